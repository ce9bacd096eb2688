// Postgres protects itself (statement_timeout on every pooled connection, so a slow read is
// cancelled by the server and answered 503), and outages are recognised by the error's class,
// never by its message.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDependencyDown } from '../../src/infra/failures.js';
import { createBreaker } from '../../src/infra/breaker.js';
import { createDb, type Db } from '../../src/infra/db.js';
import { createRedis } from '../../src/infra/redis.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, type TestEnv } from '../helpers/env.js';
import { flakyProxy } from '../helpers/flaky-proxy.js';
import { fixtureChat, fixtureUser, fixtureWorkspace } from '../helpers/fixtures.js';

let env: TestEnv;
let api: Running;
let request: ReturnType<typeof client>;
/** A pool as `fechatter migrate` makes it: no statement timeout. */
let unlimited: Db;

beforeAll(async () => {
  // No read replica (TEST_PG_REPLICA=1): the locks below are taken on the primary, where these reads must go.
  env = await createTestEnv({ DB_STATEMENT_TIMEOUT_MS: '400', DATABASE_REPLICA_URLS: '' });
  api = await startInProcess(env, 'api');
  request = client(api.url);
  unlimited = createDb(env.vars.DATABASE_URL, 2);
});
afterAll(async () => {
  await unlimited?.destroy();
  await api?.stop();
  await env?.close();
});

/** Statements containing `marker` that Postgres is still running (an idle connection keeps its last query's text). */
const running = async (marker: string) =>
  Number(
    (
      await unlimited.raw("select count(*)::int as n from pg_stat_activity where state = 'active' and query like ? and pid <> pg_backend_pid()", [
        `%${marker}%`,
      ])
    ).rows[0].n,
  );

describe('statement timeout', () => {
  it("is set on the roles' connections, and not on the migration pool", async () => {
    expect((await env.deps.db.raw('show statement_timeout')).rows[0].statement_timeout).toBe('400ms');
    expect((await unlimited.raw('show statement_timeout')).rows[0].statement_timeout).toBe('0');
  });

  it('lets Postgres cancel a slow query (57014), which counts as Postgres being unavailable', async () => {
    const started = Date.now();
    const err = await env.deps.db.raw("select pg_sleep(5), 'slow-marker-1'").catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(2000);
    expect((err as { code?: string }).code).toBe('57014');
    expect(isDependencyDown(err)).toBe('postgres');
    // Cancelled in Postgres, not only abandoned by the client (pg_sleep(5) would run on): gone
    // well before its 5 s, once the backend has reported the cancel (a moment on a busy machine).
    await eventually(async () => (await running('slow-marker-1')) === 0, 2000);
  });

  it('answers a read stuck behind a lock with 503 in the error shape, cancelled in Postgres, and opens the read breaker', async () => {
    const ann = await fixtureUser(env.deps, 'Ann');
    const chat = await fixtureChat(env.deps, await fixtureWorkspace(env.deps, ann), ann, []);
    const history = () => request('GET', `/api/v1/chats/${chat}/messages`, { token: ann.token });
    expect((await history()).status).toBe(200);

    // A migration-style lock: every read of messages waits for it (as long as it is held).
    const trx = await unlimited.transaction();
    try {
      await trx.raw('lock table messages in access exclusive mode');
      const started = Date.now();
      const stuck = await history();
      expect(Date.now() - started).toBeLessThan(3000);
      expect(stuck.status).toBe(503);
      expect(stuck.body).toEqual({ error: { code: 'unavailable', message: expect.stringMatching(/postgres/), details: [] } });
      // Nothing of ours is left waiting on the lock: the server cancelled the statement.
      const waiting = await unlimited.raw("select count(*)::int as n from pg_stat_activity where application_name = 'fechatter' and wait_event_type = 'Lock'");
      expect(waiting.rows[0].n).toBe(0);

      for (let i = 0; i < 5; i++) expect((await history()).status).toBe(503);
      expect(env.deps.readBreaker.state()).toBe('open');
      const fast = Date.now();
      const refused = await history();
      expect([refused.status, refused.body.error.code]).toEqual([503, 'unavailable']);
      expect(Date.now() - fast).toBeLessThan(200);
    } finally {
      await trx.rollback();
    }
  }, 30_000);
});

describe('dependency outages, by error class', () => {
  it('recognises Postgres refusing connections, a lost connection and a knex timeout', async () => {
    const refused = createDb('postgres://nobody:nothing@127.0.0.1:1/none', 1);
    expect(isDependencyDown(await refused.raw('select 1').catch((e: unknown) => e))).toBe('postgres');
    await refused.destroy();

    const proxy = await flakyProxy(`http://${new URL(env.vars.DATABASE_URL).host}`);
    const url = new URL(env.vars.DATABASE_URL);
    url.host = new URL(proxy.url).host;
    const viaProxy = createDb(url.toString(), 1);
    try {
      await viaProxy.raw('select 1');
      const query = viaProxy.raw('select pg_sleep(3)').catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 200));
      proxy.drop();
      const lost = await query;
      expect((lost as { code?: string }).code).toBeUndefined();
      expect(isDependencyDown(lost)).toBe('postgres');
    } finally {
      await viaProxy.destroy();
      await proxy.close();
    }

    const timedOut = await unlimited
      .raw('select pg_sleep(1)')
      .timeout(50)
      .catch((e: unknown) => e);
    expect((timedOut as Error).name).toBe('KnexTimeoutError');
    expect(isDependencyDown(timedOut)).toBe('postgres');
  });

  it('recognises Redis by its client state and error classes', async () => {
    const away = createRedis('redis://127.0.0.1:1', 'command', 'away');
    const offline = await away.get('k').catch((e: unknown) => e);
    expect(isDependencyDown(offline, away)).toBe('redis');
    away.disconnect();

    const retrying = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, retryStrategy: () => 50, lazyConnect: false });
    retrying.on('error', () => {});
    const gaveUp = await retrying.get('k').catch((e: unknown) => e);
    expect((gaveUp as Error).name).toBe('MaxRetriesPerRequestError');
    expect(isDependencyDown(gaveUp)).toBe('redis');
    retrying.disconnect();
  });

  it('recognises an open breaker by its code', async () => {
    const breaker = createBreaker('test', { enabled: true, isFailure: () => true });
    for (let i = 0; i < 5; i++) await breaker.run(() => Promise.reject(new Error('failing'))).catch(() => {});
    const open = await breaker.run(async () => 'never').catch((e: unknown) => e);
    expect(isDependencyDown(open)).toBe('postgres');
  });

  it('does not mistake other errors for outages, whatever their text says', async () => {
    const ready = env.deps.redis;
    expect(ready.status).toBe('ready');
    expect(isDependencyDown(new Error('Connection is closed.'), ready)).toBeUndefined();
    expect(isDependencyDown(new Error('connect ECONNREFUSED 127.0.0.1:6379'), ready)).toBeUndefined();
    expect(isDependencyDown(new Error('terminating connection due to administrator command'))).toBeUndefined();
    // A real Postgres error that is about the statement, not the server.
    const duplicate = await unlimited.raw('select 1/0').catch((e: unknown) => e);
    expect((duplicate as { code?: string }).code).toBe('22012');
    expect(isDependencyDown(duplicate)).toBeUndefined();
  });
});
