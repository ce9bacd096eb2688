// Messages over HTTP with a real persist worker (in-process) on real Postgres and Redis:
// validation, idempotency, history, edits/deletes and their events, poison jobs, Redis down,
// and the Bull Board guard.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import type pg from 'pg';
import { createDeps } from '../../src/deps.js';
import { PERSIST_SQL } from '../../src/domain/message-persist.js';
import { messageIdFor } from '../../src/domain/messages.js';
import { compareEventIds, type EventEnvelope } from '../../src/infra/events.js';
import { QUEUE_NAMES } from '../../src/infra/queues.js';
import { createLogger } from '../../src/observability/logger.js';
import { startRole, type Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, streamEventsAfter, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

const ADMIN_USER = 'ops';
const ADMIN_PASSWORD = 'correct horse battery';

let env: TestEnv;
let api: Running;
let worker: Running;
let request: ReturnType<typeof client>;
let ann: FixtureUser, bob: FixtureUser, admin: FixtureUser, stranger: FixtureUser;
let wid: string, general: string, history: string, edits: string;

async function events(type?: string, chatId?: string): Promise<EventEnvelope[]> {
  return (await streamEventsAfter(env)).filter((e) => (!type || e.type === type) && (!chatId || e.chat_id === chatId));
}

async function jobTotal(): Promise<number> {
  const counts = await env.deps.queues.persist.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized', 'waiting-children');
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

function send(user: FixtureUser, chatId: string, body: unknown) {
  return request('POST', `/api/v1/chats/${chatId}/messages`, { token: user.token, body });
}

/** Sends and waits until the message is stored; returns the stored message. */
async function sendStored(user: FixtureUser, chatId: string, content: string) {
  const res = await send(user, chatId, { content, client_id: uuidv7() });
  expect(res.status).toBe(202);
  return eventually(async () => {
    const got = await request('GET', `/api/v1/messages/${res.body.id}`, { token: user.token });
    return got.status === 200 ? got.body : undefined;
  });
}

beforeAll(async () => {
  env = await createTestEnv({ ADMIN_USER, ADMIN_PASSWORD, WORKER_QUEUES: 'persist' });
  api = await startInProcess(env, 'api');
  worker = await startInProcess(env, 'worker');
  request = client(api.url);
  [ann, bob, admin, stranger] = await Promise.all(['Ann', 'Bob', 'Admin', 'Stranger'].map((n) => fixtureUser(env.deps, n)));
  wid = await fixtureWorkspace(env.deps, ann, [
    [bob, 'member'],
    [admin, 'admin'],
  ]);
  await fixtureWorkspace(env.deps, stranger);
  general = await fixtureChat(env.deps, wid, ann, [bob, admin]);
  history = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'history');
  edits = await fixtureChat(env.deps, wid, ann, [bob, admin], 'private', 'edits');
});
afterAll(async () => {
  await api?.stop();
  await worker?.stop();
  await env?.close();
});

describe('POST /chats/:cid/messages validation', () => {
  const long = 'x'.repeat(4001);
  const cases: Array<[string, unknown]> = [
    ['missing content', { client_id: 'c1' }],
    ['empty content', { content: '', client_id: 'c1' }],
    ['whitespace-only content', { content: ' \n\t\u00a0 ', client_id: 'c1' }],
    ['content over 4000 characters', { content: long, client_id: 'c1' }],
    ['content over 4000 code points', { content: '😀'.repeat(4001), client_id: 'c1' }],
    ['non-string content', { content: 42, client_id: 'c1' }],
    ['content with NUL', { content: 'a\u0000b', client_id: 'c1' }],
    ['content with a lone surrogate', { content: 'a\ud800b', client_id: 'c1' }],
    ['missing client_id', { content: 'hi' }],
    ['empty client_id', { content: 'hi', client_id: '' }],
    ['client_id over 64 characters', { content: 'hi', client_id: 'c'.repeat(65) }],
    ['numeric client_id', { content: 'hi', client_id: 7 }],
    ['reply_to not a uuid', { content: 'hi', client_id: 'c1', reply_to: 'abc' }],
    ['reply_to of no message in this chat', { content: 'hi', client_id: 'c1', reply_to: uuidv7() }],
    ['unknown field', { content: 'hi', client_id: 'c1', seq: 5 }],
    ['an array body', ['hi']],
  ];
  it.each(cases)('%s → 400 validation_failed, nothing queued', async (_name, body) => {
    const before = await jobTotal();
    const res = await send(ann, general, body);
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: 'validation_failed', message: expect.any(String), details: expect.any(Array) } });
    expect(await jobTotal()).toBe(before);
  });

  it('bad JSON → 400; a non-JSON body → 415', async () => {
    const cases = [
      ['{"content": "hi",', 'application/json', 400, 'validation_failed'],
      ['content=hi', 'text/plain', 415, 'unsupported_media_type'],
    ] as const;
    for (const [raw, type, status, code] of cases) {
      const res = await request('POST', `/api/v1/chats/${general}/messages`, { token: ann.token, raw, headers: { 'content-type': type } });
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
    }
  });

  it('accepts exactly 4000 code points and stores content exactly as sent', async () => {
    const emoji = await sendStored(ann, general, '😀'.repeat(4000));
    expect([...emoji.content].length).toBe(4000);
    const html = '  <script>alert("x")</script> &amp;\n';
    expect((await sendStored(ann, general, html)).content).toBe(html);
  });

  it('401 without a token; 404 for strangers, unknown and non-numeric chats; 403 for archived chats', async () => {
    expect((await request('POST', `/api/v1/chats/${general}/messages`, { body: { content: 'hi', client_id: 'x' } })).status).toBe(401);
    for (const [user, cid] of [
      [stranger, general],
      [ann, '999999'],
      [ann, 'abc'],
    ] as const) {
      const res = await send(user, cid, { content: 'hi', client_id: 'x' });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    }
    const archived = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'old');
    await env.deps.db('chats').where({ id: archived }).update({ archived_at: new Date() });
    const before = await jobTotal();
    const res = await send(bob, archived, { content: 'hi', client_id: 'x' });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
    expect(await jobTotal()).toBe(before);
  });
});

describe('sending', () => {
  it('answers 202, then stores the message with the next seq and announces it', async () => {
    const res = await send(bob, general, { content: 'hello team', client_id: 'bob-1' });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), client_id: 'bob-1', chat_id: general, status: 'accepted' });
    const event = await eventually(async () => (await events('message.created', general)).find((e) => e.data.id === res.body.id));
    expect(event).toMatchObject({ workspace_id: wid, chat_id: general });
    expect(event.data).toMatchObject({
      id: res.body.id,
      client_id: 'bob-1',
      sender_id: bob.id,
      content: 'hello team',
      reply_to: null,
      edited_at: null,
      deleted: false,
    });
    expect(typeof event.data.accepted_at).toBe('number');
    const got = await request('GET', `/api/v1/messages/${res.body.id}`, { token: ann.token });
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ ...event.data, accepted_at: undefined, created_at: expect.any(String) });
    const chat = await env.deps.db('chats').where({ id: general }).first('last_seq');
    expect(Number(chat.last_seq)).toBe(got.body.seq);
    // Your own message is read: the sender's watermark moved to it.
    const member = await env.deps.db('chat_members').where({ chat_id: general, user_id: bob.id }).first('last_read_seq');
    expect(Number(member.last_read_seq)).toBe(got.body.seq);
  });

  it('a retried client_id gets the same id and one stored message, even when sent concurrently', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => send(ann, general, { content: 'once', client_id: 'retry-me' })));
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(202));
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    const [id] = ids;
    await eventually(async () => (await request('GET', `/api/v1/messages/${id}`, { token: ann.token })).status === 200);
    const late = await send(ann, general, { content: 'once', client_id: 'retry-me' });
    expect(late.body.id).toBe(id);
    await new Promise((r) => setTimeout(r, 200));
    const rows = await env.deps.db('messages').where({ chat_id: general, client_id: 'retry-me' });
    expect(rows.map((r) => r.id)).toEqual([id]);
    expect((await events('message.created', general)).filter((e) => e.data.id === id)).toHaveLength(1);
    // client_id is per sender: another member reusing it gets a message of their own.
    const bobs = await send(bob, general, { content: 'mine', client_id: 'retry-me' });
    expect(bobs.status).toBe(202);
    expect(bobs.body.id).not.toBe(id);
    await eventually(async () => (await request('GET', `/api/v1/messages/${bobs.body.id}`, { token: bob.token })).status === 200);
    const stored = await env.deps.db('messages').where({ chat_id: general, client_id: 'retry-me' }).orderBy('seq').select('id', 'sender_id', 'content');
    expect(stored).toEqual([
      { id, sender_id: ann.id, content: 'once' },
      { id: bobs.body.id, sender_id: bob.id, content: 'mine' },
    ]);
  });

  it('derives the id from chat, sender and client_id alone: a retry after the job is gone still lands on the stored row', async () => {
    const first = await sendStored(ann, general, 'only once');
    expect(first.id).toBe(messageIdFor(general, ann.id, first.client_id));
    // Completed jobs are trimmed (removeOnComplete): the primary key is then the only guard.
    const done = await eventually(async () => {
      const job = await env.deps.queues.persist.getJob(first.id);
      return (await job?.isCompleted()) ? job : undefined;
    });
    await done.remove();
    const again = await send(ann, general, { content: 'only once', client_id: first.client_id });
    expect(again.body.id).toBe(first.id);
    await eventually(async () => (await (await env.deps.queues.persist.getJob(first.id))?.isCompleted()) ?? false);
    expect((await env.deps.queues.persist.getJob(first.id))!.returnvalue).toMatchObject({ id: first.id, status: 'already_stored', seq: first.seq });
    expect(await env.deps.db('messages').where({ chat_id: general, client_id: first.client_id })).toHaveLength(1);
  });

  it('accepts a reply to a message of the chat, even one not persisted yet', async () => {
    const first = await send(ann, general, { content: 'question', client_id: uuidv7() });
    const reply = await send(bob, general, { content: 'answer', client_id: uuidv7(), reply_to: first.body.id });
    expect(reply.status).toBe(202);
    const stored = await eventually(async () => {
      const got = await request('GET', `/api/v1/messages/${reply.body.id}`, { token: ann.token });
      return got.status === 200 ? got.body : undefined;
    });
    expect(stored.reply_to).toBe(first.body.id);
    expect((await send(ann, history, { content: 'x', client_id: uuidv7(), reply_to: first.body.id })).status).toBe(400);
  });

  it('fails with 503 instead of a false 202 when Redis is unreachable', async () => {
    const deps = await createDeps(env.config, createLogger('silent'));
    const down = await startRole('api', deps);
    try {
      deps.redis.disconnect();
      const res = await client(down.url)('POST', `/api/v1/chats/${general}/messages`, {
        token: ann.token,
        body: { content: 'lost?', client_id: 'redis-down' },
      });
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('unavailable');
      expect(await env.deps.queues.persist.getJob(messageIdFor(general, ann.id, 'redis-down'))).toBeUndefined();
    } finally {
      await down.stop();
      await deps.db.destroy();
      await deps.queues.persist.close().catch(() => {});
    }
  });
});

describe('history', () => {
  let seqs: number[];
  beforeAll(async () => {
    seqs = [];
    for (let i = 1; i <= 7; i++) seqs.push((await sendStored(ann, history, `m${i}`)).seq);
  });

  const page = async (query: string, user = bob) => {
    const res = await request('GET', `/api/v1/chats/${history}/messages${query}`, { token: user.token });
    expect(res.status).toBe(200);
    return { contents: res.body.items.map((m: { content: string }) => m.content), has_more: res.body.has_more, items: res.body.items };
  };

  it('assigns gapless seqs 1..N', () => {
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('pages newest first by default and with before', async () => {
    expect(await page('?limit=3')).toMatchObject({ contents: ['m7', 'm6', 'm5'], has_more: true });
    expect(await page('?limit=3&before=5')).toMatchObject({ contents: ['m4', 'm3', 'm2'], has_more: true });
    expect(await page('?limit=3&before=2')).toMatchObject({ contents: ['m1'], has_more: false });
    expect((await page('')).contents).toHaveLength(7);
  });

  it('pages oldest first with after (after=0 from the start)', async () => {
    expect(await page('?after=0&limit=3')).toMatchObject({ contents: ['m1', 'm2', 'm3'], has_more: true });
    expect(await page('?after=3&limit=3')).toMatchObject({ contents: ['m4', 'm5', 'm6'], has_more: true });
    expect(await page('?after=6&limit=3')).toMatchObject({ contents: ['m7'], has_more: false });
    expect(await page('?after=7')).toMatchObject({ contents: [], has_more: false });
    expect(await page('?after=2&before=5')).toMatchObject({ contents: ['m3', 'm4'], has_more: false });
  });

  it('rejects bad paging values with 400 and strangers with 404', async () => {
    for (const q of ['?limit=0', '?limit=201', '?limit=x', '?before=-1', '?after=1.5', '?before=abc']) {
      const res = await request('GET', `/api/v1/chats/${history}/messages${q}`, { token: bob.token });
      expect(res.status, q).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }
    expect((await request('GET', `/api/v1/chats/${history}/messages`, { token: stranger.token })).status).toBe(404);
    expect((await request('GET', `/api/v1/chats/${history}/messages`, { token: admin.token })).status).toBe(404);
  });

  it('GET /messages/:mid is 404 for strangers, unknown and malformed ids', async () => {
    const [first] = (await page('?after=0&limit=1')).items;
    expect((await request('GET', `/api/v1/messages/${first.id}`, { token: stranger.token })).status).toBe(404);
    expect((await request('GET', `/api/v1/messages/${uuidv7()}`, { token: bob.token })).status).toBe(404);
    expect((await request('GET', '/api/v1/messages/not-a-uuid', { token: bob.token })).status).toBe(404);
  });
});

describe('edits and deletes', () => {
  it('the sender edits: 202, message.updated, edited content in reads', async () => {
    const message = await sendStored(bob, edits, 'draft');
    const res = await request('PATCH', `/api/v1/messages/${message.id}`, { token: bob.token, body: { content: 'final' } });
    expect(res.status).toBe(202);
    const event = await eventually(async () => (await events('message.updated', edits)).find((e) => e.data.id === message.id));
    expect(event.data).toMatchObject({ id: message.id, seq: message.seq, content: 'final', edited_at: expect.any(String) });
    const got = await request('GET', `/api/v1/messages/${message.id}`, { token: ann.token });
    expect(got.body).toMatchObject({ content: 'final', edited_at: event.data.edited_at, deleted: false });
  });

  it('others may not edit (403 for members, 404 for strangers); bad bodies are 400', async () => {
    const message = await sendStored(bob, edits, 'mine');
    expect((await request('PATCH', `/api/v1/messages/${message.id}`, { token: ann.token, body: { content: 'x' } })).status).toBe(403);
    expect((await request('PATCH', `/api/v1/messages/${message.id}`, { token: stranger.token, body: { content: 'x' } })).status).toBe(404);
    for (const body of [{ content: '  ' }, {}, { content: 'x', extra: 1 }, { content: 'y'.repeat(4001) }]) {
      expect((await request('PATCH', `/api/v1/messages/${message.id}`, { token: bob.token, body })).status).toBe(400);
    }
    expect((await request('PATCH', `/api/v1/messages/${uuidv7()}`, { token: bob.token, body: { content: 'x' } })).status).toBe(404);
  });

  it('an edit sent right after the send lands after it: created, then updated', async () => {
    const sent = await send(ann, edits, { content: 'typo', client_id: uuidv7() });
    const edit = await request('PATCH', `/api/v1/messages/${sent.body.id}`, { token: ann.token, body: { content: 'fixed' } });
    expect(edit.status).toBe(202);
    const updated = await eventually(async () => (await events('message.updated', edits)).find((e) => e.data.id === sent.body.id), 15_000);
    const created = (await events('message.created', edits)).find((e) => e.data.id === sent.body.id)!;
    expect(created.data.content).toBe('typo');
    expect(updated.data.content).toBe('fixed');
    expect(compareEventIds(created.id, updated.id)).toBeLessThan(0);
  });

  it('the sender or an admin deletes: 202, message.deleted, the seq stays with empty content', async () => {
    const own = await sendStored(bob, edits, 'oops');
    const other = await sendStored(bob, edits, 'rude');
    expect((await request('DELETE', `/api/v1/messages/${own.id}`, { token: bob.token })).status).toBe(202);
    expect((await request('DELETE', `/api/v1/messages/${other.id}`, { token: ann.token })).status).toBe(202); // owner
    const third = await sendStored(bob, edits, 'spam');
    expect((await request('DELETE', `/api/v1/messages/${third.id}`, { token: admin.token })).status).toBe(202);
    const deleted = await eventually(async () => {
      const found = (await events('message.deleted', edits)).filter((e) => [own.id, other.id, third.id].includes(e.data.id as string));
      return found.length === 3 ? found : undefined;
    });
    expect(deleted.map((e) => e.data).sort((a, b) => Number(a.seq) - Number(b.seq))).toEqual([
      { id: own.id, seq: own.seq },
      { id: other.id, seq: other.seq },
      { id: third.id, seq: third.seq },
    ]);
    const got = await request('GET', `/api/v1/messages/${own.id}`, { token: ann.token });
    expect(got.body).toMatchObject({ id: own.id, seq: own.seq, content: '', deleted: true });
    const listed = await request('GET', `/api/v1/chats/${edits}/messages?after=${own.seq - 1}&limit=1`, { token: ann.token });
    expect(listed.body.items[0]).toMatchObject({ seq: own.seq, content: '', deleted: true });
    // Gone for good: no edit, no second delete.
    expect((await request('PATCH', `/api/v1/messages/${own.id}`, { token: bob.token, body: { content: 'back' } })).status).toBe(404);
    expect((await request('DELETE', `/api/v1/messages/${own.id}`, { token: bob.token })).status).toBe(404);
  });

  it('a plain member may not delete what others sent', async () => {
    const message = await sendStored(ann, edits, 'keep');
    expect((await request('DELETE', `/api/v1/messages/${message.id}`, { token: bob.token })).status).toBe(403);
    expect((await request('DELETE', `/api/v1/messages/${message.id}`, { token: stranger.token })).status).toBe(404);
  });
});

describe('failures', () => {
  it('a poison job fails alone (failed set, with its reason) and does not block the others', async () => {
    const poisonId = uuidv7();
    await env.deps.queues.persist.add(
      'create',
      // Content Postgres cannot store (a NUL): the API refuses it, so only a job written around it has it.
      {
        kind: 'create',
        id: poisonId,
        chat_id: general,
        workspace_id: wid,
        sender_id: ann.id,
        client_id: 'poison',
        content: 'bad \u0000 content',
        reply_to: null,
        accepted_at: Date.now(),
      },
      { jobId: poisonId, attempts: 2, backoff: { type: 'fixed', delay: 50 } },
    );
    const sent = await Promise.all(Array.from({ length: 10 }, (_, i) => send(ann, general, { content: `after poison ${i}`, client_id: uuidv7() })));
    const ids = sent.map((r) => r.body.id as string);
    await eventually(async () => (await env.deps.db('messages').whereIn('id', ids)).length === ids.length);
    const failed = await eventually(async () => {
      const job = await env.deps.queues.persist.getJob(poisonId);
      return (await job?.isFailed()) ? job : undefined;
    });
    expect(failed!.failedReason).toMatch(/invalid byte sequence|0x00/);
    expect(await env.deps.db('messages').where({ id: poisonId }).first()).toBeUndefined();
    // Seqs stayed gapless around the failure.
    const rows = await env.deps.db('messages').where({ chat_id: general }).orderBy('seq').select('seq');
    expect(rows.map((r) => Number(r.seq))).toEqual(rows.map((_, i) => i + 1));
  });
});

describe('the worker re-checks who may write', () => {
  /** Runs `between` while no worker persists: what was queued before it waits for the new worker. */
  async function withWorkerStopped(between: () => Promise<void>) {
    await worker.stop();
    try {
      await between();
    } finally {
      worker = await startInProcess(env, 'worker');
    }
  }
  async function finished(match: (data: any) => boolean) {
    return eventually(async () => (await env.deps.queues.persist.getJobs(['completed', 'failed'])).find((j) => match(j.data)), 15_000);
  }
  const removeMember = async (chatId: string, user: FixtureUser) =>
    expect((await request('DELETE', `/api/v1/chats/${chatId}/members/${user.id}`, { token: ann.token })).status).toBe(204);

  it('a message accepted before its sender left, or its chat was archived, or forged, is neither stored nor announced', async () => {
    const [left, archived, forged] = await Promise.all(
      ['recheck-left', 'recheck-archived', 'recheck-forged'].map((name) => fixtureChat(env.deps, wid, ann, [bob], 'private', name)),
    );
    const ids: Record<string, string> = {};
    let stays = '';
    await withWorkerStopped(async () => {
      const accepted = async (chatId: string, content: string, sender = bob) => {
        const res = await send(sender, chatId, { content, client_id: uuidv7() });
        expect(res.status).toBe(202);
        return res.body.id as string;
      };
      ids.left = await accepted(left, 'sent, then removed');
      stays = await accepted(left, 'sent by a member who stays', ann);
      await removeMember(left, bob);
      ids.archived = await accepted(archived, 'sent, then archived');
      expect((await request('DELETE', `/api/v1/chats/${archived}`, { token: ann.token })).status).toBe(204);
      // Straight into the queue (as through Bull Board): a stranger, and a member claiming another workspace.
      const forge = async (sender: FixtureUser, workspaceId: string) => {
        const id = uuidv7();
        await env.deps.queues.persist.add(
          'create',
          {
            kind: 'create',
            id,
            chat_id: forged,
            workspace_id: workspaceId,
            sender_id: sender.id,
            client_id: id,
            content: 'forged',
            reply_to: null,
            accepted_at: Date.now(),
          },
          { jobId: id },
        );
        return id;
      };
      ids.stranger = await forge(stranger, wid);
      ids.otherWorkspace = await forge(bob, await fixtureWorkspace(env.deps, bob));
    });
    const control = await sendStored(ann, forged, 'a member still posts');
    const rejected = { left: 'not_member', archived: 'chat_archived', stranger: 'not_member', otherWorkspace: 'wrong_workspace' };
    for (const [name, reason] of Object.entries(rejected)) {
      const job = await finished((d) => d.kind === 'create' && d.id === ids[name]);
      expect(job.returnvalue, name).toEqual({ id: ids[name], status: 'rejected', seq: null, reason });
    }
    expect(await env.deps.db('messages').whereIn('id', Object.values(ids))).toEqual([]);
    const announced = (await events('message.created')).map((e) => e.data.id);
    for (const id of Object.values(ids)) expect(announced).not.toContain(id);
    // No seq was spent on them: the chats' sequences stay gapless.
    expect((await finished((d) => d.id === stays)).returnvalue).toEqual({ id: stays, status: 'stored', seq: 1 });
    expect(control.seq).toBe(1);
    // (The chats were created concurrently: their ids need not be in the order of the names.)
    const lastSeq = async (chatId: string) => Number((await env.deps.db('chats').where({ id: chatId }).first('last_seq')).last_seq);
    expect([await lastSeq(left), await lastSeq(archived)]).toEqual([1, 0]);
  });

  it('an edit or delete queued before its sender left the chat is not applied; an admin still deletes', async () => {
    const chat = await fixtureChat(env.deps, wid, ann, [bob, admin], 'private', 'recheck-changes');
    const edited = await sendStored(bob, chat, 'before leaving');
    const deleted = await sendStored(bob, chat, 'keep me');
    const moderated = await sendStored(bob, chat, 'moderate me');
    await withWorkerStopped(async () => {
      expect((await request('PATCH', `/api/v1/messages/${edited.id}`, { token: bob.token, body: { content: 'after leaving' } })).status).toBe(202);
      expect((await request('DELETE', `/api/v1/messages/${deleted.id}`, { token: bob.token })).status).toBe(202);
      expect((await request('DELETE', `/api/v1/messages/${moderated.id}`, { token: admin.token })).status).toBe(202);
      await removeMember(chat, bob);
    });
    expect((await finished((d) => d.kind === 'edit' && d.id === edited.id)).returnvalue).toEqual({ status: 'rejected' });
    expect((await finished((d) => d.kind === 'delete' && d.id === deleted.id)).returnvalue).toEqual({ status: 'rejected' });
    expect((await finished((d) => d.kind === 'delete' && d.id === moderated.id)).returnvalue).toEqual({ status: 'applied' });
    const rows = await env.deps.db('messages').where({ chat_id: chat }).orderBy('seq').select('content', 'edited_at', 'deleted_at');
    expect(rows).toEqual([
      { content: 'before leaving', edited_at: null, deleted_at: null },
      { content: 'keep me', edited_at: null, deleted_at: null },
      { content: '', edited_at: null, deleted_at: expect.any(Date) },
    ]);
    expect(await events('message.updated', chat)).toEqual([]);
    expect((await events('message.deleted', chat)).map((e) => e.data.id)).toEqual([moderated.id]);
    // The refused delete's job (its id is fixed) does not swallow a later one.
    expect((await request('DELETE', `/api/v1/messages/${deleted.id}`, { token: admin.token })).status).toBe(202);
    await eventually(async () => (await events('message.deleted', chat)).some((e) => e.data.id === deleted.id));
  });

  it('a message not stored yet is found through its job: replies, edits and deletes; once deleted, no edit or second delete', async () => {
    const chat = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'pending-changes');
    let id = '';
    let reply = '';
    await withWorkerStopped(async () => {
      id = (await send(bob, chat, { content: 'regret', client_id: uuidv7() })).body.id;
      expect(await env.deps.db('messages').where({ id }).first()).toBeUndefined();
      const replied = await send(ann, chat, { content: 'quoting', client_id: uuidv7(), reply_to: id });
      expect(replied.status).toBe(202);
      reply = replied.body.id;
      expect((await send(ann, history, { content: 'elsewhere', client_id: uuidv7(), reply_to: id })).status).toBe(400);
      const patch = (user: FixtureUser, content: string) => request('PATCH', `/api/v1/messages/${id}`, { token: user.token, body: { content } });
      const del = (user: FixtureUser) => request('DELETE', `/api/v1/messages/${id}`, { token: user.token });
      expect((await patch(stranger, 'x')).status).toBe(404);
      expect((await patch(ann, 'x')).status).toBe(403);
      expect((await patch(bob, 'edited while pending')).status).toBe(202);
      expect((await del(stranger)).status).toBe(404);
      expect((await del(bob)).status).toBe(202);
      expect((await patch(bob, 'too late')).status).toBe(404);
      expect((await del(bob)).status).toBe(404);
    });
    await eventually(async () => (await events('message.deleted', chat)).some((e) => e.data.id === id), 15_000);
    expect(await env.deps.db('messages').where({ id }).first('content', 'deleted_at')).toEqual({ content: '', deleted_at: expect.any(Date) });
    expect((await env.deps.db('messages').where({ id: reply }).first('reply_to')).reply_to).toBe(id);
    expect((await request('PATCH', `/api/v1/messages/${id}`, { token: bob.token, body: { content: 'later' } })).status).toBe(404);
  });
});

describe('outbox', () => {
  it('a message committed but never announced is announced by the retry, exactly once, before later ones', async () => {
    const db = env.deps.db;
    const chat = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'outbox');
    const id = uuidv7();
    const job = {
      kind: 'create' as const,
      id,
      chat_id: chat,
      workspace_id: wid,
      sender_id: ann.id,
      client_id: 'ob-1',
      content: 'committed, not announced',
      reply_to: null,
      accepted_at: Date.now(),
    };
    // What a worker killed between COMMIT and XADD leaves behind.
    await db.transaction(async (trx) => {
      await trx('chats').where({ id: chat }).update({ last_seq: 1 });
      await trx('messages').insert({ id, chat_id: chat, workspace_id: wid, seq: 1, sender_id: ann.id, client_id: 'ob-1', content: job.content });
    });
    await env.deps.queues.persist.add('create', job, { jobId: id });
    await eventually(async () => (await db('messages').where({ id }).first('published_at')).published_at !== null);
    expect((await events('message.created', chat)).map((e) => e.data.id)).toEqual([id]);

    // Killed after XADD but before published_at was set: the retry must not announce it twice.
    await db('messages').where({ id }).update({ published_at: null });
    await env.deps.queues.persist.add('create', job, { jobId: `${id}-retry` });
    await eventually(async () => (await db('messages').where({ id }).first('published_at')).published_at !== null);
    const next = await sendStored(bob, chat, 'after the crash');
    expect(next.seq).toBe(2);
    expect((await events('message.created', chat)).map((e) => [e.data.id, e.data.seq])).toEqual([
      [id, 1],
      [next.id, 2],
    ]);
    expect(await db('messages').where({ chat_id: chat })).toHaveLength(2);
  });
});

describe('at scale', () => {
  it('stores a batch (finding already-stored messages, reading leftovers) through indexes, never by scanning a table', async () => {
    // With seq scans priced out, a plan still shows one only if no index can answer the query
    // (an OR with a subquery did that, and cost ~100 ms per batch at 1M messages).
    const conn = (await env.deps.db.client.acquireConnection()) as pg.ClientBase;
    try {
      await conn.query('begin');
      await conn.query('set local enable_seqscan = off');
      const { rows } = await conn.query(`explain (format json) ${PERSIST_SQL}`, [
        [uuidv7()],
        [general],
        [wid],
        [ann.id],
        ['some-client-id'],
        ['hello'],
        [null],
        ['[]'],
        [uuidv7()],
        ['<p>hello</p>'],
        [uuidv7()],
        [bob.id],
        ['user'],
        [uuidv7()],
        [uuidv7()],
        [general],
      ]);
      await conn.query('rollback');
      const scans: string[] = [];
      const walk = (node: { 'Node Type': string; 'Relation Name'?: string; Plans?: unknown[] }) => {
        if (node['Node Type'] === 'Seq Scan') scans.push(node['Relation Name'] ?? '?');
        for (const child of node.Plans ?? []) walk(child as typeof node);
      };
      walk(rows[0]['QUERY PLAN'][0].Plan);
      expect(scans).toEqual([]);
    } finally {
      await env.deps.db.client.releaseConnection(conn);
    }
  });
});

describe('Bull Board', () => {
  it('is 401 (with WWW-Authenticate) without or with wrong credentials, 200 for admins', async () => {
    const get = (headers: Record<string, string> = {}) => request('GET', '/admin/queues', { headers });
    const basic = (u: string, p: string) => ({ authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    const none = await get();
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect(none.body.error.code).toBe('unauthenticated');
    expect((await get(basic(ADMIN_USER, 'wrong password'))).status).toBe(401);
    expect((await get({ authorization: `Bearer ${ann.token}` })).status).toBe(401);
    const ok = await get(basic(ADMIN_USER, ADMIN_PASSWORD));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/html/);
    await env.deps.db('users').where({ id: admin.id }).update({ is_admin: true });
    expect((await get({ authorization: `Bearer ${admin.token}` })).status).toBe(200);
    const api = await request('GET', '/admin/queues/api/queues', { headers: basic(ADMIN_USER, ADMIN_PASSWORD) });
    expect(api.status).toBe(200);
    expect(api.body.queues.map((q: { name: string }) => q.name).sort()).toEqual([...QUEUE_NAMES].sort());
  });
});
