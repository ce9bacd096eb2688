// Mentions and notification settings (the feed of messages that mention me; per-chat levels).
//  method  path                        guard  limit
//  GET     /me/mentions                user
//  GET     /chats/:cid/notifications   user
//  PATCH   /chats/:cid/notifications   user   write
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { listMyMentions, MENTIONS_MAX_LIMIT } from '../../domain/mention-feed.js';
import { getNotificationSettings, NOTIFY_LEVELS, updateNotificationSettings } from '../../domain/notification-settings.js';
import { id, idParams, route, type RouteSpec } from '../route.js';
import { messageSchema } from './messages.js';
import { listOf } from './workspaces.js';

const settingsSchema = z.object({
  chat_id: z.string(),
  level: z.enum(NOTIFY_LEVELS).describe('`default` follows the chat type: `all` in direct and group chats, `mentions` in public and private ones'),
  muted: z.boolean().describe('A muted chat notifies nothing (its counts still show)'),
  effective_level: z.enum(['all', 'mentions', 'none']).describe('What applies now: `none` when muted, else the level with `default` resolved'),
});
const mentionItem = z.object({
  message: messageSchema,
  chat_id: z.string(),
  workspace_id: z.string(),
  kind: z.enum(['user', 'channel', 'here']).describe('How it reached me: by name, @channel/@all, or @here'),
  read: z.boolean().describe('At or below my read watermark of the chat'),
});

export function notificationRoutes(deps: Deps): RouteSpec[] {
  return [
    route({
      method: 'get',
      path: '/me/mentions',
      guard: 'user',
      tag: 'notifications',
      summary: 'Messages that mention me, newest first, in chats I am a member of (deleted ones drop out)',
      query: z.object({
        workspace_id: id.optional().describe('Only this workspace (404 if I am not a member)'),
        limit: z.coerce.number().int().min(1).max(MENTIONS_MAX_LIMIT).default(50),
        cursor: z.string().max(64).optional().describe('next_cursor of the previous page'),
      }),
      responses: { 200: { description: 'mentions', schema: listOf(mentionItem) }, 404: { description: 'not a member of workspace_id' } },
      handler: async ({ user, query }) => ({ status: 200, body: await listMyMentions(deps, user.id, query) }),
    }),
    route({
      method: 'get',
      path: '/chats/:cid/notifications',
      guard: 'user',
      tag: 'notifications',
      summary: 'My notification settings of a chat I am a member of',
      params: idParams('cid'),
      responses: { 200: { description: 'settings', schema: settingsSchema }, 404: { description: 'not a member' } },
      handler: async ({ user, params }) => ({ status: 200, body: await getNotificationSettings(deps, user.id, params.cid) }),
    }),
    route({
      method: 'patch',
      path: '/chats/:cid/notifications',
      guard: 'user',
      limit: 'write',
      tag: 'notifications',
      summary: 'Change my notification level or mute a chat; `notifications.updated` goes to my own connections',
      params: idParams('cid'),
      body: z.strictObject({ level: z.enum(NOTIFY_LEVELS).optional(), muted: z.boolean().optional() }),
      responses: { 200: { description: 'settings', schema: settingsSchema }, 404: { description: 'not a member' } },
      handler: async ({ user, params, body }) => ({ status: 200, body: await updateNotificationSettings(deps, user.id, params.cid, body) }),
    }),
  ];
}
