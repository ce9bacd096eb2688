// Messages: asynchronous writes (202 once queued) and history reads. Domain logic lives in
// src/domain/messages.ts; persisting happens in workers/persist.ts.
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import {
  acceptMessage,
  CLIENT_ID_MAX_CHARS,
  contentProblem,
  deleteMessage,
  editMessage,
  getMessage,
  HISTORY_MAX_LIMIT,
  listEdits,
  listMessages,
  MAX_ATTACHMENTS_PER_MESSAGE,
  UUID_RE,
} from '../../domain/messages.js';
import { idParams, route, type RouteSpec } from '../route.js';

const TAG = 'Messages';

const content = z
  .string()
  .superRefine((value, ctx) => {
    const problem = contentProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe(
    'Stored and returned exactly as sent. At least one non-whitespace character and at most 4000 characters, counted as ' +
      'Unicode code points (an emoji is one) on the content as stored: surrounding whitespace is kept and counts.',
  );
const messageId = z.string().regex(UUID_RE, 'must be a message id');
const midParams = z.object({ mid: messageId });
const seqParam = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a non-negative integer')
  .transform(Number);

const sendBody = z.strictObject({
  content,
  client_id: z
    .string()
    .min(1)
    .max(CLIENT_ID_MAX_CHARS)
    .describe('Chosen by the client, unique per sender and chat: a retry with the same client_id answers the same id and stores one message'),
  reply_to: messageId.nullable().optional().describe('A message of this chat this one quotes (stored or still pending)'),
  thread_root_id: messageId
    .nullable()
    .optional()
    .describe('Reply in the thread of this stored message of the chat (not itself a reply); see GET /messages/{mid}/thread for the unread rules'),
  attachment_ids: z
    .array(z.string().regex(UUID_RE, 'must be an attachment id'))
    .max(MAX_ATTACHMENTS_PER_MESSAGE)
    .optional()
    .describe('Files I uploaded to this chat (POST /chats/{cid}/attachments) and not sent yet'),
});
const editBody = z.strictObject({ content });
const historyQuery = z.object({
  before: seqParam.optional(),
  after: seqParam.optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(HISTORY_MAX_LIMIT))
    .optional(),
});

const accepted = z.object({ id: z.string(), client_id: z.string(), chat_id: z.string(), status: z.literal('accepted') });
const changeAccepted = z.object({ id: z.string(), status: z.literal('accepted') });
export const mentionSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('user'), user_id: z.string(), username: z.string() }),
    z.object({ type: z.literal('channel') }),
    z.object({ type: z.literal('here') }),
  ])
  .describe('`@username` of a chat member, `@channel`/`@all`/`@everyone` (every member), `@here` (members online when it was sent)');
export const linkPreviewSchema = z.object({
  url: z.string().describe('The link as written in the message'),
  title: z.string(),
  description: z.string().nullable(),
  site_name: z.string().nullable(),
  image_url: z
    .string()
    .nullable()
    .describe(
      "Our own copy of the page's image (a same-origin path under /api/v1/link-previews/images/), so readers never contact the site; null when it had none we could use",
    ),
});
export const attachmentSchema = z.object({
  id: z.string(),
  filename: z.string(),
  content_type: z.string().describe('As sniffed from the bytes, not as declared'),
  size: z.number().int(),
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  url: z.string().describe('Download (chat members only)'),
  thumbnail_url: z.string().nullable().describe('A WebP preview of an image, at most 320 px (chat members only)'),
  created_at: z.string(),
});
export const messageSchema = z.object({
  id: z.string(),
  chat_id: z.string(),
  workspace_id: z.string(),
  seq: z.number().int(),
  sender_id: z.string(),
  content: z.string(),
  client_id: z.string(),
  reply_to: z.string().nullable(),
  thread_root_id: z.string().nullable().describe('The root of the thread this message replies in, or null'),
  reply_count: z.number().int().describe('On a thread root: its replies (deleted ones excluded)'),
  last_reply_at: z.string().nullable(),
  mentions: z.array(mentionSchema).describe('Resolved when the message was stored or last edited; text in code spans and blocks mentions nobody'),
  rendered: z
    .string()
    .describe(
      '`content` as sanitized HTML (Markdown: emphasis, code, code blocks, links, lists, quotes), rendered once when stored or edited; safe to insert as HTML',
    ),
  link_previews: z.array(linkPreviewSchema).describe('Previews of the links in the text, attached after the message is stored (event `message.link_previews`)'),
  reactions: z.array(z.object({ emoji: z.string(), count: z.number().int(), user_ids: z.array(z.string()).describe('Who reacted, oldest first') })),
  attachments: z.array(attachmentSchema),
  created_at: z.string(),
  edited_at: z.string().nullable(),
  deleted: z.boolean(),
});
const page = z.object({ items: z.array(messageSchema), has_more: z.boolean() });

export function messageRoutes(deps: Deps): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: '/chats/:cid/messages',
      guard: 'user',
      limit: 'write',
      summary: 'Send a message (asynchronous: 202 once queued; message.created carries the seq)',
      tag: TAG,
      params: idParams('cid'),
      body: sendBody,
      responses: {
        202: { description: "Queued. A retry of the sender's with the same client_id answers the same id.", schema: accepted },
        400: { description: 'Invalid body, or reply_to / thread_root_id / attachment_ids not usable here' },
        403: { description: 'The chat is archived' },
        404: { description: 'No such chat, or not a member' },
      },
      handler: async ({ user, params, body }) => ({ status: 202, body: await acceptMessage(deps, user.id, params.cid, body) }),
    }),
    route({
      method: 'get',
      path: '/chats/:cid/messages',
      guard: 'user',
      summary: 'History: newest first with `before` or neither, oldest first with `after` (`after=0` walks from the start)',
      tag: TAG,
      params: idParams('cid'),
      query: historyQuery,
      responses: { 200: { description: 'One page', schema: page }, 404: { description: 'No such chat, or not readable' } },
      handler: async ({ user, params, query }) => ({ status: 200, body: await listMessages(deps, user.id, params.cid, query) }),
    }),
    route({
      method: 'get',
      path: '/messages/:mid',
      guard: 'user',
      summary: 'One message (404 until it is persisted)',
      tag: TAG,
      params: midParams,
      responses: { 200: { description: 'The message', schema: messageSchema }, 404: { description: 'Not found, not readable or not persisted yet' } },
      handler: async ({ user, params }) => ({ status: 200, body: await getMessage(deps, user.id, params.mid) }),
    }),
    route({
      method: 'get',
      path: '/messages/:mid/edits',
      guard: 'user',
      summary: 'Earlier versions of an edited message, newest first (version 1 is the original); gone once it is deleted',
      tag: TAG,
      params: midParams,
      responses: {
        200: {
          description: 'Versions',
          schema: z.object({ items: z.array(z.object({ version: z.number().int(), content: z.string(), rendered: z.string(), written_at: z.string() })) }),
        },
        404: { description: 'No such message, deleted, or not readable' },
      },
      handler: async ({ user, params }) => ({ status: 200, body: { items: await listEdits(deps, user.id, params.mid) } }),
    }),
    route({
      method: 'patch',
      path: '/messages/:mid',
      guard: 'user',
      limit: 'write',
      summary: 'Edit my message (asynchronous: message.updated follows)',
      tag: TAG,
      params: midParams,
      body: editBody,
      responses: {
        202: { description: 'Queued', schema: changeAccepted },
        403: { description: 'Not the sender, or the chat is archived' },
        404: { description: 'No such message, deleted, or not readable' },
      },
      handler: async ({ user, params, body }) => ({ status: 202, body: await editMessage(deps, user.id, params.mid, body.content) }),
    }),
    route({
      method: 'delete',
      path: '/messages/:mid',
      guard: 'user',
      limit: 'write',
      summary: 'Delete a message: the sender or a workspace admin+ (asynchronous: message.deleted follows)',
      tag: TAG,
      params: midParams,
      responses: {
        202: { description: 'Queued', schema: changeAccepted },
        403: { description: 'Neither the sender nor an admin' },
        404: { description: 'No such message, already deleted, or not readable' },
      },
      handler: async ({ user, params }) => ({ status: 202, body: await deleteMessage(deps, user.id, params.mid) }),
    }),
  ];
}
