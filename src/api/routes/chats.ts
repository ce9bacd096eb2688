// Chats and chat members (API.md "Chats").
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { CHAT_TYPES } from '../../domain/access.js';
import { addChatMembers, joinChat, listChatMembers, removeChatMember } from '../../domain/chat-members.js';
import { archiveChat, browsePublicChats, createChat, getChat, listMyChats, updateChat } from '../../domain/chats.js';
import { id, idParams, route, type RouteSpec } from '../route.js';
import { userSchema } from './auth.js';
import { messageSchema } from './messages.js';
import { NOTIFY_LEVELS } from '../../domain/notification-settings.js';
import { listOf, pageQuery } from './workspaces.js';

//  method  path                          guard  who
//  POST    /workspaces/:wid/chats        user   member (not guests)
//  GET     /workspaces/:wid/chats        user   member; ?browse=public: non-guest member
//  GET     /chats/:cid                   user   chat member, or non-guest workspace member for public chats
//  PATCH   /chats/:cid                   user   chat creator or workspace admin+
//  DELETE  /chats/:cid                   user   chat creator or workspace admin+ (archives)
//  GET     /chats/:cid/members           user   whoever can read the chat
//  POST    /chats/:cid/members           user   chat member (not guests)
//  DELETE  /chats/:cid/members/:uid      user   self, or chat creator / workspace admin+
//  POST    /chats/:cid/join              user   non-guest workspace member, public chats

const chatName = z.string().trim().min(1).max(80);
const topic = z.string().trim().max(250);
export const chatSchema = z.object({
  id: z.string(),
  workspace_id: z.string(),
  type: z.enum(CHAT_TYPES),
  name: z.string().nullable(),
  topic: z.string().nullable(),
  created_by: z.string(),
  created_at: z.string(),
  last_seq: z.number(),
  member_count: z.number(),
  archived_at: z.string().nullable(),
});
const myChatSchema = chatSchema.extend({
  unread_count: z.number(),
  mention_count: z.number().describe('Messages above my watermark that mention me (by name, @channel or @here), not deleted'),
  notify_level: z.enum(NOTIFY_LEVELS),
  muted: z.boolean(),
  last_read_seq: z.number(),
  last_message: messageSchema.nullable(),
});
const chatMemberSchema = z.object({ user: userSchema, joined_at: z.string(), last_read_seq: z.number() });
const userIds = z.array(id).max(1000);

export function chatRoutes(deps: Deps): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: '/workspaces/:wid/chats',
      guard: 'user',
      tag: 'chats',
      summary: 'Create a chat (not guests). public/private need a name; direct takes exactly one member_id and returns an existing chat of the pair with 200.',
      params: idParams('wid'),
      body: z.strictObject({
        type: z.enum(CHAT_TYPES),
        name: chatName.nullable().optional(),
        topic: topic.nullable().optional(),
        member_ids: userIds.optional(),
      }),
      responses: {
        201: { description: 'created', schema: chatSchema },
        200: { description: 'the existing direct chat of this pair', schema: chatSchema },
        403: { description: 'guests cannot create chats' },
        404: { description: 'not a member of the workspace' },
      },
      handler: async ({ params, body, user }) => {
        const { chat, created } = await createChat(deps, user.id, params.wid, body);
        return { status: created ? 201 : 200, body: chat };
      },
    }),
    route({
      method: 'get',
      path: '/workspaces/:wid/chats',
      guard: 'user',
      tag: 'chats',
      summary: 'My chats with unread_count, last_read_seq and last_message; with browse=public, the public chats I can join (not paginated)',
      params: idParams('wid'),
      query: z.object({ browse: z.literal('public').optional() }),
      responses: {
        200: { description: 'chats', schema: listOf(z.union([myChatSchema, chatSchema])) },
        403: { description: 'guests cannot browse public chats' },
        404: { description: 'not a member of the workspace' },
      },
      handler: async ({ params, query, user }) => ({
        status: 200,
        body: {
          items: query.browse === 'public' ? await browsePublicChats(deps, user.id, params.wid) : await listMyChats(deps, user.id, params.wid),
          next_cursor: null,
        },
      }),
    }),
    route({
      method: 'get',
      path: '/chats/:cid',
      guard: 'user',
      tag: 'chats',
      summary: 'A chat',
      params: idParams('cid'),
      responses: { 200: { description: 'chat', schema: chatSchema }, 404: { description: 'no such chat, or not visible to me' } },
      handler: async ({ params, user }) => ({ status: 200, body: await getChat(deps, user.id, params.cid) }),
    }),
    route({
      method: 'patch',
      path: '/chats/:cid',
      guard: 'user',
      tag: 'chats',
      summary: 'Rename or set the topic (creator or workspace admin+); topic null clears it',
      params: idParams('cid'),
      body: z.strictObject({ name: chatName.nullable().optional(), topic: topic.nullable().optional() }),
      responses: {
        200: { description: 'updated', schema: chatSchema },
        403: { description: 'not the creator nor admin+' },
        404: { description: 'not visible to me' },
      },
      handler: async ({ params, body, user }) => ({ status: 200, body: await updateChat(deps, user.id, params.cid, body) }),
    }),
    route({
      method: 'delete',
      path: '/chats/:cid',
      guard: 'user',
      tag: 'chats',
      summary: 'Archive (no new messages; history stays readable)',
      params: idParams('cid'),
      responses: { 204: { description: 'archived' }, 403: { description: 'not the creator nor admin+' }, 404: { description: 'not visible to me' } },
      handler: async ({ params, user }) => {
        await archiveChat(deps, user.id, params.cid);
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/chats/:cid/members',
      guard: 'user',
      tag: 'chats',
      summary: 'Members of a chat, by user id',
      params: idParams('cid'),
      query: pageQuery,
      responses: { 200: { description: 'members', schema: listOf(chatMemberSchema) }, 404: { description: 'not visible to me' } },
      handler: async ({ params, query, user }) => ({ status: 200, body: await listChatMembers(deps, user.id, params.cid, query) }),
    }),
    route({
      method: 'post',
      path: '/chats/:cid/members',
      guard: 'user',
      tag: 'chats',
      summary: 'Add workspace members to a chat (chat members, not guests; not direct chats)',
      params: idParams('cid'),
      body: z.strictObject({ user_ids: userIds.min(1) }),
      responses: {
        200: { description: 'added (users already in the chat are skipped)', schema: z.object({ chat: chatSchema, added_user_ids: z.array(z.string()) }) },
        403: { description: 'guest, or the chat is archived' },
        404: { description: 'not a member of the chat' },
      },
      handler: async ({ params, body, user }) => ({ status: 200, body: await addChatMembers(deps, user.id, params.cid, body.user_ids) }),
    }),
    route({
      method: 'delete',
      path: '/chats/:cid/members/:uid',
      guard: 'user',
      tag: 'chats',
      summary: 'Leave (self) or remove a member (chat creator or workspace admin+)',
      params: idParams('cid', 'uid'),
      responses: {
        204: { description: 'removed' },
        403: { description: 'not allowed to remove others' },
        404: { description: 'not visible, or not a member' },
      },
      handler: async ({ params, user }) => {
        await removeChatMember(deps, user.id, params.cid, params.uid);
        return { status: 204 };
      },
    }),
    route({
      method: 'post',
      path: '/chats/:cid/join',
      guard: 'user',
      tag: 'chats',
      summary: 'Join a public chat (non-guest workspace members); joining again changes nothing',
      params: idParams('cid'),
      responses: {
        200: { description: 'joined', schema: chatSchema },
        403: { description: 'the chat is archived' },
        404: { description: 'not a public chat of my workspace' },
      },
      handler: async ({ params, user }) => ({ status: 200, body: await joinChat(deps, user.id, params.cid) }),
    }),
  ];
}
