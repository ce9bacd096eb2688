// The OpenAPI 3.1 document, generated from the same route specs and zod schemas that validate
// requests (see route.ts). Served at /api/v1/openapi.json, rendered at /api/docs.
import { z } from 'zod';
import { ERROR_CODES } from '../errors.js';
import { EVENT_TYPES, RESYNC_REQUIRED } from '../infra/events.js';
import type { RouteSpec } from './route.js';
import { userSchema } from './routes/auth.js';
import { chatSchema } from './routes/chats.js';
import { attachmentSchema, linkPreviewSchema, mentionSchema, messageSchema } from './routes/messages.js';
import { workspaceSchema } from './routes/workspaces.js';

const errorSchema = z
  .object({
    error: z.object({
      code: z
        .enum(ERROR_CODES)
        .describe(
          'Fits the status: 400 validation_failed, 401 unauthenticated, 403 forbidden, 404 not_found, 405 method_not_allowed (see the Allow header), ' +
            '408 request_timeout, 409 conflict, 413 payload_too_large, 414 uri_too_long, 415 unsupported_media_type (the body is not declared as JSON), ' +
            '429 rate_limited (see Retry-After), 431 headers_too_large, another 4xx bad_request, 500 internal, 501 not_implemented (unknown method), ' +
            '503 unavailable (a dependency is down; the message names it)',
        ),
      message: z.string().describe('For people; 5xx errors other than 503 carry a generic message, never internal details'),
      details: z.array(z.unknown()),
    }),
  })
  .describe('Every error, on every path and role, has this shape');

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

type Names = z.core.$ZodRegistry<{ id: string }>;
const COMPONENT_URI = (id: string) => `#/components/schemas/${id}`;

/**
 * The resources clients share (the SDK's types are generated from them, see sdk/src/openapi.ts),
 * named once as components and referenced from every response. Some schemas are not exported by
 * their routes file, so they are found through the route that answers with them; a missing one
 * throws, so renaming a route cannot silently drop a component.
 */
function componentNames(specs: RouteSpec[]): Names {
  const response = (method: RouteSpec['method'], path: string, status: number): z.ZodType => {
    const schema = specs.find((s) => s.method === method && s.path === path)?.responses[status]?.schema;
    if (!schema) throw new Error(`OpenAPI components: no ${status} schema for ${method} ${path}`);
    return schema;
  };
  const shape = (schema: z.ZodType) => (schema as z.ZodObject).shape;
  const item = (list: z.ZodType) => (shape(list).items as z.ZodArray<z.ZodType>).element;
  const myChat = (item(response('get', '/workspaces/:wid/chats', 200)) as z.ZodUnion<z.ZodType[]>).options[0];
  const names: Names = z.registry<{ id: string }>();
  const add = (id: string, schema: z.ZodType) => names.add(schema, { id });
  add('User', userSchema);
  add('UserStatus', (shape(userSchema).status as z.ZodNullable<z.ZodType>).unwrap());
  add('Session', response('post', '/auth/login', 200));
  add('Workspace', workspaceSchema);
  add('Member', response('patch', '/workspaces/:wid/members/:uid', 200));
  add('Chat', chatSchema);
  add('MyChat', myChat);
  add('ChatMember', item(response('get', '/chats/:cid/members', 200)));
  add('Message', messageSchema);
  add('Mention', mentionSchema);
  add('Reaction', (shape(messageSchema).reactions as z.ZodArray<z.ZodType>).element);
  add('LinkPreview', linkPreviewSchema);
  add('Attachment', attachmentSchema);
  add('ThreadState', response('post', '/messages/:mid/thread/read', 200));
  add('Pin', response('put', '/messages/:mid/pin', 200));
  add('Saved', response('put', '/messages/:mid/saved', 200));
  add('NotificationSettings', response('get', '/chats/:cid/notifications', 200));
  add('Invitation', item(response('get', '/workspaces/:wid/invitations', 200)));
  return names;
}

const stripIds = (schema: Record<string, unknown>) => {
  const { $schema: _schema, $id: _id, ...rest } = schema;
  return rest;
};

/** A response schema with the named components as $refs (descriptions still from .describe()). */
function outputSchema(schema: z.ZodType, names: Names): Record<string, unknown> {
  const id = names.get(schema)?.id;
  if (id) return { $ref: COMPONENT_URI(id) };
  const registry = z.registry<{ id: string }>();
  for (const [name, named] of names._idmap) registry.add(named, { id: name });
  registry.add(schema, { id: '__response' });
  const { schemas } = z.toJSONSchema(registry, { io: 'output', unrepresentable: 'any', uri: COMPONENT_URI });
  return stripIds(schemas.__response as Record<string, unknown>);
}

function componentSchemas(names: Names): Record<string, unknown> {
  const { schemas } = z.toJSONSchema(names, { io: 'output', unrepresentable: 'any', uri: COMPONENT_URI });
  // __shared would hold schemas with an id that are not components (none today): refuse rather than publish dangling refs.
  if (schemas.__shared) throw new Error('OpenAPI components: unexpected shared definitions');
  return Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, stripIds(schema as Record<string, unknown>)]));
}

export function buildOpenApi(groups: Array<{ prefix: string; specs: RouteSpec[] }>, version: string) {
  const names = componentNames(groups.flatMap((group) => group.specs));
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { prefix, specs } of groups) {
    for (const spec of specs) {
      const path = (prefix + spec.path).replace(/:(\w+)/g, '{$1}');
      const parameters: unknown[] = [];
      for (const name of spec.path.match(/:(\w+)/g) ?? []) {
        parameters.push({ name: name.slice(1), in: 'path', required: true, schema: { type: 'string' } });
      }
      if (spec.query) {
        const shape = jsonSchema(spec.query, 'input') as { properties?: Record<string, unknown>; required?: string[] };
        for (const [name, schema] of Object.entries(shape.properties ?? {})) {
          parameters.push({ name, in: 'query', required: shape.required?.includes(name) ?? false, schema });
        }
      }
      const responses: Record<string, unknown> = {};
      for (const [status, response] of Object.entries(spec.responses)) {
        const schema = response.schema ?? (Number(status) >= 400 ? errorSchema : undefined);
        responses[status] = {
          description: response.description,
          ...(response.binary
            ? { content: { '*/*': { schema: { type: 'string', format: 'binary' } } } }
            : schema
              ? { content: { 'application/json': { schema: schema === errorSchema ? jsonSchema(schema, 'output') : outputSchema(schema, names) } } }
              : {}),
        };
      }
      for (const [status, description] of [
        [400, 'Invalid request'],
        [401, 'Not authenticated'],
        [415, 'The body is not JSON (Content-Type)'],
        [429, 'Rate limited'],
        [503, 'A dependency is unavailable'],
      ] as const) {
        if (status === 401 && spec.guard === 'public') continue;
        if (status === 400 && !spec.body && !spec.query) continue;
        if (status === 415 && !spec.body) continue;
        responses[status] ??= { description, content: { 'application/json': { schema: jsonSchema(errorSchema, 'output') } } };
      }
      paths[path] ??= {};
      paths[path][spec.method] = {
        summary: spec.summary,
        tags: [spec.tag],
        operationId: `${spec.method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(\w)/g, (_, c: string) => c.toUpperCase())}`,
        ...(spec.guard === 'user' ? { security: [{ bearer: [] }] } : { security: [] }),
        ...(parameters.length ? { parameters } : {}),
        ...(spec.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(spec.body, 'input') } } } } : {}),
        ...(spec.rawBody
          ? { requestBody: { required: true, description: spec.rawBody, content: { '*/*': { schema: { type: 'string', format: 'binary' } } } } }
          : {}),
        responses,
      };
    }
  }
  Object.assign(paths, realtimePaths());
  return {
    openapi: '3.1.0',
    info: {
      title: 'Fechatter API',
      version,
      description:
        'Team chat: workspaces, chats, messages (asynchronous writes answered 202), receipts, search. Real-time events over WebSocket (/api/v1/ws) and SSE (/api/v1/events).',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      // Error stays inline on every response too (clients read it there); the component names it for the SDK.
      schemas: { ...componentSchemas(names), Error: jsonSchema(errorSchema, 'output'), Event: jsonSchema(eventSchema, 'output') },
    },
    paths,
  };
}

/** What `data` holds for each event type (API.md's table, plus the events added since). */
const EVENT_DATA: Record<(typeof EVENT_TYPES)[number] | typeof RESYNC_REQUIRED, string> = {
  'message.created': 'the message (with `client_id` and `seq`)',
  'message.updated': 'the message',
  'message.deleted': '`{id, seq}`',
  'receipt.updated': '`{user_id, last_read_seq, read_at}`',
  typing: '`{user_id, expires_at}`',
  'chat.created': 'the chat, plus `member_ids`',
  'chat.updated': 'the chat (renamed, new topic, or archived: `archived_at` set)',
  'chat.member_joined': '`{user_id, user}`: who joined, as a user object',
  'chat.member_left': '`{user_id}`; after one about you, nothing more of that chat reaches you',
  'workspace.updated': 'the workspace `{id, name, slug, created_at}` (no role: that is per reader)',
  'workspace.member_joined': 'the member as the member list shows them `{user, role, joined_at}`, plus `user_id`; not sent to guests unless about them',
  'workspace.member_updated': 'the member with the new role, plus `user_id`; not sent to guests unless about them',
  'workspace.member_left': '`{user_id}`; after one about you, nothing more of that workspace (chats, presence) reaches you',
  'presence.updated': '`{user_id, status: "online"|"offline"}`',
  'user.updated':
    '`{user_id, user}`: a member of the workspace changed their name, username, status or do-not-disturb (one event per workspace they belong to)',
  'notifications.updated': 'my notification settings of the chat `{chat_id, level, muted, effective_level}`; user-scoped (only my own connections)',
  'reaction.added': '`{message_id, emoji, user_id, reaction: {emoji, count, user_ids}}`: the emoji as it is now on the message',
  'reaction.removed': '`{message_id, emoji, user_id, reaction: {emoji, count, user_ids}}` (count 0: the emoji is gone)',
  'message.pinned': '`{message_id, pinned_by, pinned_at, message}`',
  'message.unpinned': '`{message_id}`',
  'message.saved': 'user-scoped: `{message_id, saved_at, message}` (my own connections only)',
  'message.unsaved': 'user-scoped: `{message_id}`',
  'message.link_previews': "`{id, link_previews}`: previews of the message's links, fetched after it was stored or edited",
  'thread.updated': 'user-scoped: `{root_id, chat_id, following, last_read_seq, unread_count}`: my follow or read state of a thread changed',
  resync_required: '`{}`: the resume id is too old; refetch over REST',
};

const eventSchema = z
  .object({
    id: z.string().describe('Stream position; hand it back as last_event_id / Last-Event-ID to resume'),
    type: z.enum([...EVENT_TYPES, RESYNC_REQUIRED]).describe(
      Object.entries(EVENT_DATA)
        .map(([type, data]) => `\`${type}\`: ${data}`)
        .join('; '),
    ),
    workspace_id: z.string().nullable(),
    chat_id: z.string().nullable(),
    user_id: z.string().optional().describe('Set on user-scoped events: only that user receives them'),
    data: z.record(z.string(), z.unknown()),
  })
  .describe(
    'Every real-time event, on both transports. A connection receives the events of the chats and workspaces its user belongs to, ' +
      'and on resume exactly those the user belonged to at each event (nothing from before joining or after leaving).',
  );

/** The real-time endpoints (served by the fanout role), documented alongside the REST routes. */
function realtimePaths() {
  const resume = [
    { name: 'access_token', in: 'query', required: false, schema: { type: 'string' }, description: 'For clients that cannot set the Authorization header' },
    { name: 'last_event_id', in: 'query', required: false, schema: { type: 'string' }, description: 'Resume after this event id' },
  ];
  const errors = {
    401: {
      description:
        'Missing, expired or forged token, or an ended session (the handshake is refused); an open connection whose session ends is closed (WebSocket 4001, SSE `event: error`)',
    },
    429: { description: 'Too many open connections (CONNECTION_LIMIT) or connection attempts (RATE_LIMIT_CONNECT_PER_MINUTE) for this user; see Retry-After' },
  };
  return {
    '/api/v1/events': {
      get: {
        summary: 'Server-Sent Events: every event of my chats and workspaces; honours Last-Event-ID',
        tags: ['real-time'],
        operationId: 'getApiV1Events',
        security: [{ bearer: [] }],
        parameters: [...resume, { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'string' } }],
        responses: {
          200: {
            description: 'An event stream: `id:` = event id, `event:` = type, `data:` = the event as JSON; `: ping` comments as heartbeats',
            content: { 'text/event-stream': { schema: { $ref: '#/components/schemas/Event' } } },
          },
          ...errors,
        },
      },
    },
    '/api/v1/ws': {
      get: {
        summary: 'WebSocket: the same events as JSON frames; client frames {"type":"typing","chat_id"} and {"type":"ping"}',
        tags: ['real-time'],
        operationId: 'getApiV1Ws',
        security: [{ bearer: [] }],
        parameters: resume,
        responses: { 101: { description: 'Switching protocols; frames are Event objects (#/components/schemas/Event)' }, ...errors },
      },
    },
  };
}
