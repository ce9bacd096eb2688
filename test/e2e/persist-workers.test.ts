// The write path end to end with real `fechatter worker` processes: several senders through the
// API into one chat while two workers persist (seq exactly 1..N, events in seq order), and a
// worker SIGKILLed while jobs flow (every accepted message stored and announced exactly once).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/infra/events.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, spawnRole, startInProcess, streamEventsAfter, type RoleProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

let env: TestEnv;
let api: Running;
let request: ReturnType<typeof client>;
let users: FixtureUser[];
let wid: string;
const workers: RoleProcess[] = [];

beforeAll(async () => {
  env = await createTestEnv({ WORKER_QUEUES: 'persist', RATE_LIMIT_WRITE_PER_MINUTE: '100000', RATE_LIMIT_IP_PER_MINUTE: '100000' });
  api = await startInProcess(env, 'api');
  request = client(api.url);
  users = await Promise.all(['Ann', 'Bob', 'Cat', 'Dan'].map((n) => fixtureUser(env.deps, n)));
  wid = await fixtureWorkspace(
    env.deps,
    users[0],
    users.slice(1).map((u) => [u, 'member'] as [FixtureUser, 'member']),
  );
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await api?.stop();
  await env?.close();
});

async function spawnWorker(): Promise<RoleProcess> {
  const worker = await spawnRole(env, 'worker', { WORKER_QUEUES: 'persist' });
  workers.push(worker);
  return worker;
}

interface Sent {
  id: string;
  client_id: string;
  sender_id: string;
}

/** Each user sends `perUser` messages, `parallel` at a time; returns what every 202 said. */
async function sendMany(chatId: string, perUser: number, parallel: number, prefix: string): Promise<Sent[]> {
  const sent: Sent[] = [];
  await Promise.all(
    users.map(async (user) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          while (next < perUser) {
            const clientId = `${prefix}-${user.id}-${next++}`;
            const res = await request('POST', `/api/v1/chats/${chatId}/messages`, {
              token: user.token,
              body: { content: `hello from ${clientId}`, client_id: clientId },
            });
            expect(res.status).toBe(202);
            sent.push({ id: res.body.id, client_id: clientId, sender_id: user.id });
          }
        }),
      );
    }),
  );
  return sent;
}

async function createdEvents(chatId: string): Promise<EventEnvelope[]> {
  return (await streamEventsAfter(env)).filter((e) => e.type === 'message.created' && e.chat_id === chatId);
}

async function storedCount(chatId: string): Promise<number> {
  const [{ n }] = await env.deps.db('messages').where({ chat_id: chatId }).count({ n: '*' });
  return Number(n);
}

/** Every accepted message stored once with its 202 id, seqs exactly 1..N, one event each in seq order. */
async function expectExactlyOnce(chatId: string, sent: Sent[]) {
  const rows = await env.deps.db('messages').where({ chat_id: chatId }).orderBy('seq').select('id', 'seq', 'client_id', 'sender_id');
  expect(rows.map((r) => Number(r.seq))).toEqual(sent.map((_, i) => i + 1));
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const s of sent) expect(byId.get(s.id)).toMatchObject({ client_id: s.client_id, sender_id: s.sender_id });
  const chat = await env.deps.db('chats').where({ id: chatId }).first('last_seq');
  expect(Number(chat.last_seq)).toBe(sent.length);

  const events = await createdEvents(chatId);
  expect(events.map((e) => e.data.seq)).toEqual(sent.map((_, i) => i + 1));
  expect(new Set(events.map((e) => e.data.id))).toEqual(new Set(sent.map((s) => s.id)));
  for (const e of events) expect(byId.get(e.data.id as string)?.seq).toBe(String(e.data.seq));
  const unpublished = await env.deps.db('messages').where({ chat_id: chatId }).whereNull('published_at').count({ n: '*' });
  expect(Number(unpublished[0].n)).toBe(0);
}

async function persistedBy(worker: RoleProcess): Promise<number> {
  const text = await (await fetch(`${worker.url}/metrics`)).text();
  return Number(/^fechatter_messages_persisted_total (\d+)/m.exec(text)?.[1] ?? 0);
}

describe('persist workers', () => {
  it('two worker processes, four concurrent senders, one chat: seq exactly 1..N, events in seq order', async () => {
    const [w1, w2] = await Promise.all([spawnWorker(), spawnWorker()]);
    const chatId = await fixtureChat(env.deps, wid, users[0], users.slice(1), 'private', 'busy');
    const started = Date.now();
    const sent = await sendMany(chatId, 80, 8, 'busy');
    expect(new Set(sent.map((s) => s.id)).size).toBe(320);
    await eventually(async () => (await storedCount(chatId)) === sent.length, 30_000, 100);
    const seconds = (Date.now() - started) / 1000;
    await eventually(async () => (await createdEvents(chatId)).length === sent.length, 5_000);
    await expectExactlyOnce(chatId, sent);
    const [n1, n2] = await Promise.all([persistedBy(w1), persistedBy(w2)]);
    console.info(`[persist-workers] 320 messages through 2 workers in ${seconds.toFixed(2)} s (worker split ${n1}/${n2})`);
    expect(n1 + n2).toBe(320);
    expect(n1).toBeGreaterThan(0);
    expect(n2).toBeGreaterThan(0);
    await Promise.all([w1.stop(), w2.stop()]);
  }, 90_000);

  it('a worker SIGKILLed while jobs flow: every accepted message stored and announced exactly once', async () => {
    const chatId = await fixtureChat(env.deps, wid, users[0], users.slice(1), 'private', 'crash');
    const doomed = await spawnWorker();
    const sending = sendMany(chatId, 100, 4, 'crash');
    await eventually(async () => (await storedCount(chatId)) >= 60, 20_000, 10);
    await doomed.kill('SIGKILL');
    const atKill = await storedCount(chatId);
    const rescuer = await spawnWorker();
    const sent = await sending;
    expect(atKill).toBeLessThan(sent.length);
    // Jobs the dead worker held come back once their 10 s lock expires.
    await eventually(async () => (await storedCount(chatId)) === sent.length, 60_000, 200);
    await eventually(async () => (await createdEvents(chatId)).length >= sent.length, 10_000);
    await expectExactlyOnce(chatId, sent);
    console.info(`[persist-workers] SIGKILL after ${atKill}/${sent.length} stored; all ${sent.length} stored and announced once`);
    await rescuer.stop();
  }, 120_000);
});
