import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateRollbackAll, migrateLatest } from '../../src/infra/migrate.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';

let env: TestEnv;
let api: Running;
let request: ReturnType<typeof client>;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startInProcess(env, 'api');
  request = client(api.url);
});
afterAll(async () => {
  await api?.stop();
  await env?.close();
});

describe('operations endpoints', () => {
  it('answers liveness', async () => {
    const res = await request('GET', '/health/live');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('reports postgres and redis readiness with latency', async () => {
    const res = await request('GET', '/health/ready');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.checks.postgres).toMatchObject({ ok: true });
    expect(res.body.checks.redis).toMatchObject({ ok: true });
    expect(typeof res.body.checks.postgres.latency_ms).toBe('number');
  });

  it('serves Prometheus metrics', async () => {
    const res = await request('GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    expect(res.body).toContain('fechatter_http_request_duration_seconds');
    expect(res.body).toMatch(/fechatter_queue_jobs\{queue="persist",state="waiting"\} 0/);
    expect(res.body).toMatch(/fechatter_redis_up 1/);
    expect(res.body).toMatch(/fechatter_postgres_pool_connections\{state="used"\}/);
  });

  it('answers unknown routes with the error shape and a request id', async () => {
    const res = await request('GET', '/api/v1/no-such-thing');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: expect.any(String), details: [] } });
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('publishes an OpenAPI 3.1 document and a docs page', async () => {
    const doc = await request('GET', '/api/v1/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    expect(doc.body.paths['/health/ready'].get).toBeDefined();
    expect(doc.body.paths['/api/v1/events'].get.responses['200'].content['text/event-stream']).toBeDefined();
    expect(doc.body.paths['/api/v1/ws'].get.responses['101']).toBeDefined();
    const page = await request('GET', '/api/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
  });
});

describe('schema', () => {
  it('migrations roll back completely and apply again', async () => {
    await migrateRollbackAll(env.deps.db);
    const tables = await env.deps.db.raw("select count(*)::int as n from pg_tables where schemaname = 'public' and tablename not like 'knex_%'");
    expect(tables.rows[0].n).toBe(0);
    const applied = await migrateLatest(env.deps.db);
    expect(applied.length).toBeGreaterThan(0);
  });

  it('enforces case-insensitive unique emails', async () => {
    const db = env.deps.db;
    await db('users').insert({ email: 'Ann@Example.com', password_hash: 'x', display_name: 'Ann' });
    await expect(db('users').insert({ email: 'ann@example.COM', password_hash: 'x', display_name: 'Ann 2' })).rejects.toThrow(/users_email_lower_key/);
  });
});
