// The OpenAPI 3.1 document, generated from the same route specs and zod schemas that validate
// requests (see route.ts). Served at /api/v1/openapi.json, rendered at /api/docs.
import { z } from 'zod';
import { EVENT_TYPES, RESYNC_REQUIRED } from '../infra/events.js';
import type { RouteSpec } from './route.js';

const errorSchema = z.object({
  error: z.object({
    code: z.enum(['validation_failed', 'unauthenticated', 'forbidden', 'not_found', 'conflict', 'payload_too_large', 'rate_limited', 'unavailable', 'internal']),
    message: z.string(),
    details: z.array(z.unknown()),
  }),
});

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
};

export function buildOpenApi(groups: Array<{ prefix: string; specs: RouteSpec[] }>, version: string) {
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
          ...(schema ? { content: { 'application/json': { schema: jsonSchema(schema, 'output') } } } : {}),
        };
      }
      for (const [status, description] of [[400, 'Invalid request'], [401, 'Not authenticated'], [429, 'Rate limited'], [503, 'A dependency is unavailable']] as const) {
        if (status === 401 && spec.guard === 'public') continue;
        if (status === 400 && !spec.body && !spec.query) continue;
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
      description: 'Team chat: workspaces, chats, messages (asynchronous writes answered 202), receipts, search. Real-time events over WebSocket (/api/v1/ws) and SSE (/api/v1/events).',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Event: jsonSchema(eventSchema, 'output') },
    },
    paths,
  };
}

const eventSchema = z
  .object({
    id: z.string().describe('Stream position; hand it back as last_event_id / Last-Event-ID to resume'),
    type: z.enum([...EVENT_TYPES, RESYNC_REQUIRED]),
    workspace_id: z.string().nullable(),
    chat_id: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
  })
  .describe('Every real-time event, on both transports');

/** The real-time endpoints (served by the fanout role), documented alongside the REST routes. */
function realtimePaths() {
  const resume = [
    { name: 'access_token', in: 'query', required: false, schema: { type: 'string' }, description: 'For clients that cannot set the Authorization header' },
    { name: 'last_event_id', in: 'query', required: false, schema: { type: 'string' }, description: 'Resume after this event id' },
  ];
  const errors = {
    401: { description: 'Missing, expired or forged token (the handshake is refused)' },
    429: { description: 'Too many connections for this user (CONNECTION_LIMIT)' },
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
          200: { description: 'An event stream: `id:` = event id, `event:` = type, `data:` = the event as JSON; `: ping` comments as heartbeats', content: { 'text/event-stream': { schema: { $ref: '#/components/schemas/Event' } } } },
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
