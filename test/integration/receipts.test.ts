import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/infra/events.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, streamEventsAfter, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureMessage, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

let env: TestEnv;
let app: Running;
let request: ReturnType<typeof client>;
let ann: FixtureUser, bob: FixtureUser, cat: FixtureUser, stranger: FixtureUser;
let wid: string, general: string, random: string;

async function storeMessages(chatId: string, sender: FixtureUser, count: number): Promise<Array<{ id: string; seq: number }>> {
  const stored = [];
  for (let i = 0; i < count; i++) stored.push(await fixtureMessage(env.deps, chatId, sender, `message ${i}`));
  return stored;
}

async function streamEvents(type: string): Promise<EventEnvelope[]> {
  return (await streamEventsAfter(env)).filter((e) => e.type === type);
}

async function receipts(user: FixtureUser, chatId: string) {
  const res = await request('GET', `/api/v1/chats/${chatId}/receipts`, { token: user.token });
  expect(res.status).toBe(200);
  return Object.fromEntries(res.body.items.map((r: { user_id: string; last_read_seq: number }) => [r.user_id, r.last_read_seq]));
}

beforeAll(async () => {
  env = await createTestEnv({ WORKER_QUEUES: 'receipts' });
  app = await startInProcess(env, 'all');
  request = client(app.url);
  [ann, bob, cat, stranger] = await Promise.all(['Ann', 'Bob', 'Cat', 'Stranger'].map((n) => fixtureUser(env.deps, n)));
  wid = await fixtureWorkspace(env.deps, ann, [
    [bob, 'member'],
    [cat, 'guest'],
  ]);
  await fixtureWorkspace(env.deps, stranger);
  general = await fixtureChat(env.deps, wid, ann, [bob, cat]);
  random = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'random');
});
afterAll(async () => {
  await app?.stop();
  await env?.close();
});

describe('read watermarks', () => {
  it('moves forward through the queue, never back, and is capped at last_seq', async () => {
    await storeMessages(general, ann, 10);
    expect((await request('POST', `/api/v1/chats/${general}/read`, { token: bob.token, body: { seq: 5 } })).status).toBe(202);
    await eventually(async () => (await receipts(bob, general))[bob.id] === 5);
    expect((await request('POST', `/api/v1/chats/${general}/read`, { token: bob.token, body: { seq: 3 } })).status).toBe(202);
    expect((await request('POST', `/api/v1/chats/${general}/read`, { token: bob.token, body: { seq: 999 } })).status).toBe(202);
    await eventually(async () => (await receipts(bob, general))[bob.id] === 10);
    // The event is published just after the watermark commits.
    const bobsEvents = async () => (await streamEvents('receipt.updated')).filter((e) => e.data.user_id === bob.id && e.chat_id === general);
    const events = await eventually(async () => ((await bobsEvents()).length >= 2 ? bobsEvents() : null));
    expect(events.map((e) => e.data.last_read_seq)).toEqual([5, 10]);
    expect(events[0]).toMatchObject({ workspace_id: wid, data: { read_at: expect.any(String) } });
  });

  it('coalesces a burst of read marks into few forward-only updates', async () => {
    await storeMessages(random, ann, 30);
    await Promise.all(Array.from({ length: 30 }, (_, i) => request('POST', `/api/v1/chats/${random}/read`, { token: bob.token, body: { seq: i + 1 } })));
    await eventually(async () => (await receipts(bob, random))[bob.id] === 30);
    const published = async () => (await streamEvents('receipt.updated')).filter((e) => e.chat_id === random).map((e) => e.data.last_read_seq as number);
    const seqs = await eventually(async () => ((await published()).includes(30) ? published() : null));
    expect(seqs.length).toBeLessThan(30);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(seqs.at(-1)).toBe(30);
  });

  it('lists readers of a message, without its sender', async () => {
    const [message] = await storeMessages(general, ann, 1);
    await request('POST', `/api/v1/chats/${general}/read`, { token: cat.token, body: { seq: message.seq } });
    await eventually(async () => (await receipts(ann, general))[cat.id] === message.seq);
    const res = await request('GET', `/api/v1/messages/${message.id}/readers`, { token: ann.token });
    expect(res.status).toBe(200);
    expect(res.body.items.map((r: { user_id: string }) => r.user_id)).toEqual([cat.id]);
    expect((await request('GET', `/api/v1/messages/${message.id}/readers`, { token: stranger.token })).status).toBe(404);
  });

  it('rejects bad read marks and strangers without queuing anything', async () => {
    for (const body of [{ seq: -1 }, { seq: 1.5 }, { seq: '3' }, {}, { seq: 1, extra: true }]) {
      const res = await request('POST', `/api/v1/chats/${general}/read`, { token: bob.token, body });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }
    expect((await request('POST', `/api/v1/chats/${general}/read`, { token: stranger.token, body: { seq: 1 } })).status).toBe(404);
    expect((await request('POST', `/api/v1/chats/${general}/read`, { body: { seq: 1 } })).status).toBe(401);
    expect((await request('GET', `/api/v1/chats/${general}/receipts`, { token: stranger.token })).status).toBe(404);
  });
});

describe('unread counts', () => {
  it('counts messages after my watermark, not mine, not deleted, across chats in one answer', async () => {
    const before = await request('GET', `/api/v1/workspaces/${wid}/unread`, { token: cat.token });
    expect(before.status).toBe(200);
    const catGeneral = before.body.chats.find((c: { chat_id: string }) => c.chat_id === general);
    const [own] = await storeMessages(general, cat, 1);
    const fresh = await storeMessages(general, bob, 3);
    await env.deps.db('messages').where({ id: fresh[0].id }).update({ deleted_at: new Date() });
    const after = await request('GET', `/api/v1/workspaces/${wid}/unread`, { token: cat.token });
    const chat = after.body.chats.find((c: { chat_id: string }) => c.chat_id === general);
    expect(chat.unread_count).toBe(catGeneral.unread_count + 2);
    expect(chat.last_seq).toBe(fresh[2].seq);
    expect(after.body.total).toBe(after.body.chats.reduce((n: number, c: { unread_count: number }) => n + c.unread_count, 0));
    expect(after.body.chats.map((c: { chat_id: string }) => c.chat_id)).not.toContain(random);
    expect(own.seq).toBeLessThan(fresh[0].seq);

    await request('POST', `/api/v1/chats/${general}/read`, { token: cat.token, body: { seq: fresh[2].seq } });
    await eventually(async () => {
      const res = await request('GET', `/api/v1/workspaces/${wid}/unread`, { token: cat.token });
      return res.body.chats.find((c: { chat_id: string }) => c.chat_id === general).unread_count === 0;
    });
    expect((await request('GET', `/api/v1/workspaces/${wid}/unread`, { token: stranger.token })).status).toBe(404);
  });
});

describe('typing', () => {
  it('publishes one typing event per second per user and chat, with an expiry', async () => {
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 10 }, () => request('POST', `/api/v1/chats/${general}/typing`, { token: bob.token, body: {} })));
    expect(answers.every((a) => a.status === 204)).toBe(true);
    const events = (await streamEvents('typing')).filter((e) => e.data.user_id === bob.id);
    expect(events).toHaveLength(1);
    const expires = Date.parse(events[0].data.expires_at as string);
    expect(expires - started).toBeGreaterThanOrEqual(4000);
    expect(expires - started).toBeLessThanOrEqual(7000);
  });

  it('is refused to strangers and accepts an empty body', async () => {
    expect((await request('POST', `/api/v1/chats/${general}/typing`, { token: stranger.token, body: {} })).status).toBe(404);
    expect((await request('POST', `/api/v1/chats/${random}/typing`, { token: ann.token })).status).toBe(204);
    expect((await request('POST', `/api/v1/chats/${random}/typing`, { token: ann.token, body: { x: 1 } })).status).toBe(400);
  });
});
