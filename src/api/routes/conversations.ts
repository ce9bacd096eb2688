// Reactions, pins, saved messages and threads: what makes a conversation (issue 16).
//  method  path                               guard  limit   who
//  PUT     /messages/:mid/reactions/:emoji    user   write   chat members (idempotent)
//  DELETE  /messages/:mid/reactions/:emoji    user   write   chat members (idempotent)
//  PUT     /messages/:mid/pin                 user   write   chat members
//  DELETE  /messages/:mid/pin                 user   write   chat members
//  GET     /chats/:cid/pins                   user           readers of the chat
//  PUT     /messages/:mid/saved               user   write   readers of the message (private)
//  DELETE  /messages/:mid/saved               user   write
//  GET     /me/saved                          user
//  GET     /messages/:mid/thread              user           readers of the chat
//  PUT     /messages/:mid/thread/follow       user   write   chat members
//  DELETE  /messages/:mid/thread/follow       user   write   chat members
//  POST    /messages/:mid/thread/read         user   write   chat members
//  GET     /me/threads                        user
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { UUID_RE, HISTORY_MAX_LIMIT } from '../../domain/messages.js';
import { listPins, listSaved, pinMessage, SAVED_MAX_LIMIT, setSaved, unpinMessage } from '../../domain/pins.js';
import { setReaction } from '../../domain/reactions.js';
import { followThread, getThread, listMyThreads, markThreadRead } from '../../domain/threads.js';
import { id, idParams, route, type RouteSpec } from '../route.js';
import { messageSchema } from './messages.js';
import { listOf } from './workspaces.js';

const messageId = z.string().regex(UUID_RE, 'must be a message id');
const midParams = z.object({ mid: messageId });
const reactionParams = z.object({ mid: messageId, emoji: z.string().min(1).max(64) });
const limit = (max: number) => z.coerce.number().int().min(1).max(max).default(50);
const seqParam = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a non-negative integer')
  .transform(Number);

const reactionSchema = z.object({ emoji: z.string(), count: z.number().int(), user_ids: z.array(z.string()) });
const pinSchema = z.object({ message: messageSchema, pinned_by: z.string(), pinned_at: z.string() });
const savedSchema = z.object({ message: messageSchema, saved_at: z.string() });
const threadStateSchema = z.object({
  root_id: z.string(),
  chat_id: z.string(),
  following: z.boolean(),
  last_read_seq: z.number().int().describe('The seq of the newest reply I have read'),
  unread_count: z.number().int().describe('Replies after last_read_seq, not mine, not deleted'),
});
const THREAD_RULES =
  "Replies are messages of the chat (same seq, same history, flagged by thread_root_id). A reply does not count towards the chat's unread_count; " +
  "it counts towards the thread's unread_count (thread_follows), and a mention in it counts towards the chat's mention_count like any mention. " +
  "The root's author, every replier and everyone a reply mentions follow the thread unless they unfollowed it.";

export function conversationRoutes(deps: Deps): RouteSpec[] {
  const react = (on: boolean) =>
    route({
      method: on ? 'put' : 'delete',
      path: '/messages/:mid/reactions/:emoji',
      guard: 'user',
      limit: 'write',
      tag: 'conversations',
      summary: on
        ? 'React with one emoji (URL-encoded; Unicode RGI emoji, e.g. %F0%9F%91%8D). Idempotent; `reaction.added` goes to the chat when it changed something. At most 50 different emoji per message and 20 per person.'
        : 'Take my reaction back. Idempotent; `reaction.removed` when it changed something.',
      params: reactionParams,
      responses: {
        200: { description: 'the emoji on the message now', schema: reactionSchema },
        400: { description: 'not one emoji, or a limit reached' },
        404: { description: 'no such message, deleted, or not a member of its chat' },
      },
      handler: async ({ user, params }) => ({ status: 200, body: await setReaction(deps, user.id, params.mid, params.emoji, on) }),
    });
  return [
    react(true),
    react(false),
    route({
      method: 'put',
      path: '/messages/:mid/pin',
      guard: 'user',
      limit: 'write',
      tag: 'conversations',
      summary: 'Pin a message to its chat (members; at most 100 per chat). Idempotent; `message.pinned` when new.',
      params: midParams,
      responses: {
        200: { description: 'the pin', schema: pinSchema },
        400: { description: 'the chat has 100 pins' },
        404: { description: 'no such message, deleted, or not a member' },
      },
      handler: async ({ user, params }) => ({ status: 200, body: await pinMessage(deps, user.id, params.mid) }),
    }),
    route({
      method: 'delete',
      path: '/messages/:mid/pin',
      guard: 'user',
      limit: 'write',
      tag: 'conversations',
      summary: 'Unpin (members). Idempotent; `message.unpinned` when it was pinned.',
      params: midParams,
      responses: { 204: { description: 'not pinned (any more)' }, 404: { description: 'no such message, deleted, or not a member' } },
      handler: async ({ user, params }) => {
        await unpinMessage(deps, user.id, params.mid);
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/chats/:cid/pins',
      guard: 'user',
      tag: 'conversations',
      summary: "The chat's pins, newest first (one page: a chat holds at most 100; next_cursor is always null)",
      params: idParams('cid'),
      responses: { 200: { description: 'pins', schema: listOf(pinSchema) }, 404: { description: 'no such chat, or not readable' } },
      handler: async ({ user, params }) => ({ status: 200, body: { items: await listPins(deps, user.id, params.cid), next_cursor: null } }),
    }),
    ...([true, false] as const).map((on) =>
      route({
        method: on ? 'put' : 'delete',
        path: '/messages/:mid/saved',
        guard: 'user',
        limit: 'write',
        tag: 'conversations',
        summary: on
          ? 'Save a message for later (private to me; `message.saved` to my connections). Idempotent.'
          : 'Unsave (idempotent; `message.unsaved` when it was saved).',
        params: midParams,
        responses: on
          ? { 200: { description: 'saved', schema: savedSchema }, 404: { description: 'no such message, deleted, or not readable' } }
          : { 204: { description: 'not saved (any more)' }, 404: { description: 'no such message, deleted, or not readable' } },
        handler: async ({ user, params }) => {
          const saved = await setSaved(deps, user.id, params.mid, on);
          return on ? { status: 200, body: saved } : { status: 204 };
        },
      }),
    ),
    route({
      method: 'get',
      path: '/me/saved',
      guard: 'user',
      tag: 'conversations',
      summary: 'My saved messages, newest first, in chats I can still read',
      query: z.object({ limit: limit(SAVED_MAX_LIMIT), cursor: z.string().max(64).optional().describe('next_cursor of the previous page') }),
      responses: { 200: { description: 'saved messages', schema: listOf(savedSchema) } },
      handler: async ({ user, query }) => ({ status: 200, body: await listSaved(deps, user.id, query) }),
    }),
    route({
      method: 'get',
      path: '/messages/:mid/thread',
      guard: 'user',
      tag: 'conversations',
      summary: `A thread: its root and a page of replies, oldest first (\`after\` a seq, or from the start), or the page before \`before\`. ${THREAD_RULES}`,
      params: midParams,
      query: z.object({ after: seqParam.optional(), before: seqParam.optional(), limit: limit(HISTORY_MAX_LIMIT) }),
      responses: {
        200: {
          description: 'the thread',
          schema: z.object({ root: messageSchema, items: z.array(messageSchema), has_more: z.boolean(), thread: threadStateSchema }),
        },
        400: { description: "the message is a reply (its thread is its root's)" },
        404: { description: 'no such message, deleted, or not readable' },
      },
      handler: async ({ user, params, query }) => ({ status: 200, body: await getThread(deps, user.id, params.mid, query) }),
    }),
    ...([true, false] as const).map((on) =>
      route({
        method: on ? 'put' : 'delete',
        path: '/messages/:mid/thread/follow',
        guard: 'user',
        limit: 'write',
        tag: 'conversations',
        summary: on ? 'Follow a thread (members of the chat)' : 'Unfollow a thread; replying or being mentioned in it does not follow it again',
        params: midParams,
        responses: {
          200: { description: 'my thread state (`thread.updated` to my connections when it changed)', schema: threadStateSchema },
          404: { description: 'no such message, or not a member' },
        },
        handler: async ({ user, params }) => ({ status: 200, body: await followThread(deps, user.id, params.mid, on) }),
      }),
    ),
    route({
      method: 'post',
      path: '/messages/:mid/thread/read',
      guard: 'user',
      limit: 'write',
      tag: 'conversations',
      summary:
        "Move my read mark of a thread I follow (or unfollowed) forward to `seq` (capped at the newest reply; never back); a thread I never followed keeps no read state. The chat's own watermark is separate (POST /chats/{cid}/read).",
      params: midParams,
      body: z.strictObject({ seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
      responses: { 200: { description: 'my thread state', schema: threadStateSchema }, 404: { description: 'no such message, or not a member' } },
      handler: async ({ user, params, body }) => ({ status: 200, body: await markThreadRead(deps, user.id, params.mid, body.seq) }),
    }),
    route({
      method: 'get',
      path: '/me/threads',
      guard: 'user',
      tag: 'conversations',
      summary: 'Threads I follow, most recent reply first, with my unread count in each',
      query: z.object({ workspace_id: id.optional(), limit: limit(HISTORY_MAX_LIMIT), cursor: z.string().max(64).optional() }),
      responses: {
        200: { description: 'threads', schema: listOf(z.object({ root: messageSchema, thread: threadStateSchema })) },
        404: { description: 'not a member of workspace_id' },
      },
      handler: async ({ user, query }) => ({ status: 200, body: await listMyThreads(deps, user.id, query) }),
    }),
  ];
}
