// File attachments: upload to a chat, then send with a message's attachment_ids.
//  method  path                            guard  limit
//  POST    /chats/:cid/attachments         user   write   members of an unarchived chat; raw body, ?filename=
//  GET     /chats/:cid/attachments         user           readers of the chat
//  GET     /attachments/:id                user           readers of its chat (its uploader before it is sent)
//  GET     /attachments/:id/thumbnail      user           same
//  GET     /link-previews/images/:name     public         anyone (content named by a hash)
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { downloadHeaders } from '../../domain/attachments/headers.js';
import { downloadAttachment, listChatAttachments, uploadAttachment } from '../../domain/attachments/upload.js';
import { PREVIEW_IMAGE_RE, previewImageKey } from '../../domain/unfurl/attach.js';
import { UUID_RE } from '../../domain/messages.js';
import { idParams, route, type RouteSpec } from '../route.js';
import { attachmentSchema } from './messages.js';
import { listOf } from './workspaces.js';

const attachmentParams = z.object({ id: z.string().regex(UUID_RE, 'must be an attachment id') });

export function attachmentRoutes(deps: Deps): RouteSpec[] {
  // Files never change under an id: a private cache may keep them.
  const download =
    (variant: 'file' | 'thumbnail') =>
    async ({ user, params }: { user: { id: string }; params: { id: string } }) => {
      const file = await downloadAttachment(deps, user.id, params.id, variant);
      return { status: 200, body: file.stream, headers: { ...file.headers, 'Cache-Control': 'private, max-age=3600' } };
    };
  return [
    route({
      method: 'get',
      path: '/link-previews/images/:name',
      guard: 'public',
      tag: 'attachments',
      summary:
        "A link preview's image, as the unfurl worker kept it (a WebP of at most 320 px re-encoded from the site's image): message.link_previews[].image_url points here. Public and immutable: its name is a hash of the image's original URL.",
      params: z.object({ name: z.string().regex(PREVIEW_IMAGE_RE) }),
      responses: { 200: { description: 'image/webp', binary: true }, 404: { description: 'no such image' } },
      handler: async ({ params }) => {
        const { stream, size } = await deps.files.get(previewImageKey(params.name));
        const headers = downloadHeaders({ filename: params.name, content_type: 'image/webp', size }, 'inline');
        return { status: 200, body: stream, headers: { ...headers, 'Cache-Control': 'public, max-age=604800, immutable' } };
      },
    }),
    route({
      method: 'post',
      path: '/chats/:cid/attachments',
      guard: 'user',
      limit: 'write',
      tag: 'attachments',
      summary:
        'Upload a file: the raw bytes as the request body (any Content-Type; the stored type is sniffed from the bytes, and HTML, SVG or script is stored as application/octet-stream), the name in `filename`. Send it with a message (`attachment_ids`) to share it; images get a thumbnail.',
      params: idParams('cid'),
      rawBody: 'The file itself (streamed; at most UPLOAD_MAX_BYTES). Its Content-Type is a hint only.',
      query: z.object({ filename: z.string().min(1).max(1000).describe('The original file name (sanitized: no paths, no control characters)') }),
      responses: {
        201: { description: 'stored', schema: attachmentSchema },
        400: { description: 'no filename, or an empty body' },
        403: { description: 'the chat is archived' },
        404: { description: 'no such chat, or not a member' },
        413: { description: 'larger than UPLOAD_MAX_BYTES, or past the workspace quota (WORKSPACE_STORAGE_QUOTA_BYTES)' },
      },
      handler: async ({ user, params, query, ctx }) => {
        try {
          const attachment = await uploadAttachment(deps, user.id, params.cid, {
            stream: ctx.req,
            filename: query.filename,
            declaredType: ctx.get('content-type') || undefined,
            length: ctx.request.length,
          });
          return { status: 201, body: attachment };
        } catch (err) {
          // Refused before the body was read to its end: discard the rest (bounded by
          // REQUEST_TIMEOUT_MS) so the client gets to read the answer, then close the connection.
          if (!ctx.req.complete) {
            ctx.set('Connection', 'close');
            ctx.req.resume();
          }
          throw err;
        }
      },
    }),
    route({
      method: 'get',
      path: '/chats/:cid/attachments',
      guard: 'user',
      tag: 'attachments',
      summary: 'Files sent in the chat, newest first (deleted messages take theirs with them)',
      params: idParams('cid'),
      query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50), cursor: z.string().max(64).optional() }),
      responses: {
        200: { description: 'files', schema: listOf(attachmentSchema.extend({ message_id: z.string(), uploader_id: z.string() })) },
        404: { description: 'no such chat, or not readable' },
      },
      handler: async ({ user, params, query }) => ({ status: 200, body: await listChatAttachments(deps, user.id, params.cid, query) }),
    }),
    route({
      method: 'get',
      path: '/attachments/:id',
      guard: 'user',
      tag: 'attachments',
      summary: 'Download a file (images inline, everything else as an attachment; nosniff and a sandbox CSP always)',
      params: attachmentParams,
      responses: { 200: { description: 'the bytes', binary: true }, 404: { description: 'no such file, or not readable' } },
      handler: download('file'),
    }),
    route({
      method: 'get',
      path: '/attachments/:id/thumbnail',
      guard: 'user',
      tag: 'attachments',
      summary: 'A WebP preview (at most 320 px) of an image file',
      params: attachmentParams,
      responses: { 200: { description: 'image/webp', binary: true }, 404: { description: 'no such file, not an image, or not readable' } },
      handler: download('thumbnail'),
    }),
  ];
}
