// Read receipts, unread counts and typing.
//  method  path                         guard  limit
//  POST    /chats/:cid/read             user   write
//  GET     /chats/:cid/receipts         user
//  GET     /messages/:mid/readers       user
//  GET     /workspaces/:wid/unread      user
//  POST    /chats/:cid/typing           user   typing
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { listReceipts, markRead, messageReaders, workspaceUnread } from '../../domain/receipts.js';
import { startTyping } from '../../domain/typing.js';
import { idParams, messageIdParams, route, type RouteSpec } from '../route.js';

const chatParams = idParams('cid');
const receipt = z.object({ user_id: z.string(), last_read_seq: z.number().int(), read_at: z.string().nullable() });
const reader = z.object({ user_id: z.string(), read_at: z.string().nullable() });
const chatUnread = z.object({
  chat_id: z.string(),
  unread_count: z.number().int(),
  mention_count: z.number().int(),
  last_read_seq: z.number().int(),
  last_seq: z.number().int(),
});

export function receiptRoutes(deps: Deps): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: '/chats/:cid/read',
      guard: 'user',
      tag: 'receipts',
      limit: 'write',
      summary: 'Move my read watermark forward to seq (queued; never moves back)',
      params: chatParams,
      body: z.strictObject({ seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }),
      responses: {
        202: { description: 'queued', schema: z.object({ chat_id: z.string(), seq: z.number().int(), status: z.literal('accepted') }) },
        404: { description: 'not a member' },
      },
      handler: async ({ user, params, body }) => {
        await markRead(deps, user.id, params.cid, body.seq);
        return { status: 202, body: { chat_id: params.cid, seq: body.seq, status: 'accepted' } };
      },
    }),
    route({
      method: 'get',
      path: '/chats/:cid/receipts',
      guard: 'user',
      tag: 'receipts',
      summary: "Every member's read watermark",
      params: chatParams,
      responses: { 200: { description: 'watermarks', schema: z.object({ items: z.array(receipt) }) }, 404: { description: 'no such chat' } },
      handler: async ({ user, params }) => ({ status: 200, body: { items: await listReceipts(deps, user.id, params.cid) } }),
    }),
    route({
      method: 'get',
      path: '/messages/:mid/readers',
      guard: 'user',
      tag: 'receipts',
      summary: 'Members (other than the sender) whose watermark reached this message',
      params: messageIdParams,
      responses: { 200: { description: 'readers', schema: z.object({ items: z.array(reader) }) }, 404: { description: 'no such message' } },
      handler: async ({ user, params }) => ({ status: 200, body: { items: await messageReaders(deps, user.id, params.mid) } }),
    }),
    route({
      method: 'get',
      path: '/workspaces/:wid/unread',
      guard: 'user',
      tag: 'receipts',
      summary: 'Unread and mention counts of all my chats in the workspace',
      params: idParams('wid'),
      responses: {
        200: { description: 'unread counts', schema: z.object({ chats: z.array(chatUnread), total: z.number().int(), mention_total: z.number().int() }) },
        404: { description: 'no such workspace' },
      },
      handler: async ({ user, params }) => ({ status: 200, body: await workspaceUnread(deps, user.id, params.wid) }),
    }),
    route({
      method: 'post',
      path: '/chats/:cid/typing',
      guard: 'user',
      tag: 'receipts',
      limit: 'typing',
      summary: 'Show me as typing for about 5 s (send again to extend)',
      params: chatParams,
      body: z.strictObject({}),
      responses: { 204: { description: 'typing' }, 404: { description: 'not a member' } },
      handler: async ({ user, params }) => {
        await startTyping(deps, user.id, params.cid);
        return { status: 204 };
      },
    }),
  ];
}
