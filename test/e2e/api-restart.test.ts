// The API restarted under load (once gracefully, once with SIGKILL) while clients keep sending
// and retrying with the same client_id: every accepted message is stored exactly once with the
// id of its 202, and a live WebSocket client sees each one once, in seq order, with no gap.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTestEnv, eventually, spawnRole, type RoleProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';
import { openWs } from '../helpers/realtime.js';

let env: TestEnv;
let fanout: RoleProcess;
let worker: RoleProcess;
let api: RoleProcess;
let ann: FixtureUser, bob: FixtureUser;
let chat: string;

beforeAll(async () => {
  env = await createTestEnv();
  [fanout, worker, api] = await Promise.all([spawnRole(env, 'fanout'), spawnRole(env, 'worker', { WORKER_QUEUES: 'persist' }), spawnRole(env, 'api')]);
  [ann, bob] = await Promise.all([fixtureUser(env.deps, 'Ann'), fixtureUser(env.deps, 'Bob')]);
  const wid = await fixtureWorkspace(env.deps, ann, [[bob, 'member']]);
  chat = await fixtureChat(env.deps, wid, ann, [bob]);
}, 90_000);
afterAll(async () => {
  await Promise.all([fanout, worker, api].map((p) => p?.kill().catch(() => {})));
  await env?.close();
});

/** Sends with retries, as a well-behaved client would: same client_id until a 202 arrives. */
async function sendUntilAccepted(clientId: string, content: string): Promise<{ id: string; attempts: number }> {
  for (let attempt = 1; attempt <= 400; attempt++) {
    try {
      const res = await client(api.url)('POST', `/api/v1/chats/${chat}/messages`, { token: ann.token, body: { content, client_id: clientId } });
      if (res.status === 202) return { id: res.body.id, attempts: attempt };
      if (res.status < 500) throw new Error(`unexpected ${res.status}: ${JSON.stringify(res.body)}`);
    } catch (err) {
      if ((err as Error).message.startsWith('unexpected')) throw err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${clientId} never accepted`);
}

describe('API restarted under load', () => {
  it('loses and duplicates nothing, and clients see every message once in order', async () => {
    const bobWs = await openWs(fanout.url, bob.token);
    const accepted = new Map<string, string>();
    let retried = 0;
    const senders = Array.from({ length: 4 }, (_, s) =>
      (async () => {
        for (let i = 0; i < 40; i++) {
          const clientId = `s${s}-m${i}`;
          const { id, attempts } = await sendUntilAccepted(clientId, `sender ${s} message ${i}`);
          if (attempts > 1) retried++;
          accepted.set(clientId, id);
        }
      })(),
    );

    const restarts = (async () => {
      await eventually(async () => accepted.size >= 40, 30_000, 10);
      const stopping = api;
      expect(await stopping.stop(), stopping.output().slice(-2000)).toBe(0); // graceful: finishes in-flight requests
      api = await spawnRole(env, 'api');
      await eventually(async () => accepted.size >= 100, 30_000, 10);
      await api.kill('SIGKILL'); // abrupt: requests in flight are cut off
      api = await spawnRole(env, 'api');
    })();
    await Promise.all([...senders, restarts]);
    expect(accepted.size).toBe(160);
    expect(retried).toBeGreaterThan(0);

    const rows = await eventually(
      async () => {
        const r = await env.deps.db('messages').where({ chat_id: chat }).orderBy('seq').select('id', 'seq', 'client_id');
        return r.length >= 160 ? r : undefined;
      },
      30_000,
      200,
    );
    expect(rows).toHaveLength(160);
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 160 }, (_, i) => i + 1));
    for (const row of rows) expect(accepted.get(row.client_id)).toBe(row.id);

    const frames = await bobWs.inbox.until((fs) => fs.filter((f) => f.type === 'message.created').length >= 160, 20_000, '160 messages');
    const created = frames.filter((f) => f.type === 'message.created');
    expect(created.map((f) => f.data.seq)).toEqual(Array.from({ length: 160 }, (_, i) => i + 1));
    expect(new Set(created.map((f) => f.data.id)).size).toBe(160);
    await bobWs.close();
  }, 120_000);
});
