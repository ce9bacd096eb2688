// The persist worker's batch on real Postgres and Redis, called directly (no queue): one
// statement decides every job of a mixed batch, so each job must get its own outcome, the
// stored ones gapless seqs in batch order per chat with everything that comes with them
// (mentions, thread counts and follows, attachments, the sender's watermark), rows left
// unpublished by a dead worker must go out first, and a rerun must change nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { persistMessages } from '../../src/domain/message-persist.js';
import type { CreateMessageJob } from '../../src/infra/queues.js';
import { createTestEnv, streamEventsAfter, streamMark, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureMessage, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

let env: TestEnv;
let ann: FixtureUser, bob: FixtureUser, cat: FixtureUser;
let wid: string, otherWid: string;

beforeAll(async () => {
  env = await createTestEnv();
  [ann, bob, cat] = await Promise.all(['Ann', 'Bob', 'Cat'].map((n) => fixtureUser(env.deps, n)));
  wid = await fixtureWorkspace(env.deps, ann, [
    [bob, 'member'],
    [cat, 'member'],
  ]);
  otherWid = await fixtureWorkspace(env.deps, cat);
});
afterAll(async () => {
  await env?.close();
});

let accepted = Date.now();
function job(sender: FixtureUser, chatId: string, content: string, extra: Partial<CreateMessageJob> = {}): CreateMessageJob {
  return {
    kind: 'create',
    id: uuidv7(),
    chat_id: chatId,
    workspace_id: wid,
    sender_id: sender.id,
    client_id: randomUUID(),
    content,
    reply_to: null,
    accepted_at: accepted++,
    ...extra,
  };
}

async function createdEvents(mark: Awaited<ReturnType<typeof streamMark>>, chatId: string) {
  return (await streamEventsAfter(env, mark)).filter((e) => e.type === 'message.created' && e.chat_id === chatId);
}

async function upload(uploader: FixtureUser, chatId: string, filename: string): Promise<string> {
  const id = uuidv7();
  await env.deps.db('attachments').insert({
    id,
    workspace_id: wid,
    chat_id: chatId,
    uploader_id: uploader.id,
    filename,
    content_type: 'text/plain',
    size: 5,
    sha256: 'x'.repeat(64),
    storage_key: `test/${id}`,
  });
  return id;
}

describe('a batch of creates', () => {
  it('gives each job of a mixed batch its own outcome; the stored ones get gapless seqs in batch order, with all that comes with them', async () => {
    const a = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'a');
    const b = await fixtureChat(env.deps, wid, bob, [ann], 'private', 'b');
    const archived = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'archived');
    await env.deps.db('chats').where({ id: archived }).update({ archived_at: new Date() });
    const root = await fixtureMessage(env.deps, b, ann, 'a root in b');
    const elsewhere = await fixtureMessage(env.deps, a, ann, 'a root in a');
    await env.deps.db('messages').whereIn('id', [root.id, elsewhere.id]).update({ published_at: new Date() });
    const annsFile = await upload(ann, a, 'mine.txt');
    const bobsFile = await upload(bob, a, 'not-annes.txt');

    const first = job(ann, a, 'one');
    const jobs = {
      first,
      toB: job(bob, b, 'two'),
      mention: job(ann, a, `three @${bob.username}`, { attachment_ids: [annsFile, bobsFile] }),
      stranger: job(cat, b, 'not a member'),
      again: job(ann, a, 'same client_id', { client_id: first.client_id }),
      archived: job(ann, archived, 'archived'),
      badRoot: job(ann, a, 'reply to a root of another chat', { thread_root_id: root.id }),
      reply: job(bob, b, `a reply, @${ann.username}`, { thread_root_id: root.id }),
      wrongWorkspace: job(ann, a, 'forged', { workspace_id: otherWid }),
      gone: job(ann, '999999999', 'no such chat'),
    };
    const mark = await streamMark(env);
    // Handed over out of order: the batch goes by accepted_at.
    const outcomes = await persistMessages(env.deps, Object.values(jobs).reverse());

    const got = Object.fromEntries(Object.entries(jobs).map(([k, j]) => [k, outcomes.get(j.id)]));
    expect(got).toEqual({
      first: { id: jobs.first.id, status: 'stored', seq: 2 },
      toB: { id: jobs.toB.id, status: 'stored', seq: 2 },
      mention: { id: jobs.mention.id, status: 'stored', seq: 3 },
      stranger: { id: jobs.stranger.id, status: 'rejected', seq: null, reason: 'not_member' },
      again: { id: jobs.again.id, status: 'duplicate_client_id', seq: null },
      archived: { id: jobs.archived.id, status: 'rejected', seq: null, reason: 'chat_archived' },
      badRoot: { id: jobs.badRoot.id, status: 'rejected', seq: null, reason: 'bad_thread_root' },
      reply: { id: jobs.reply.id, status: 'stored', seq: 3 },
      wrongWorkspace: { id: jobs.wrongWorkspace.id, status: 'rejected', seq: null, reason: 'wrong_workspace' },
      gone: { id: jobs.gone.id, status: 'chat_gone', seq: null },
    });

    // Rejected jobs spend no seq and leave no row.
    const chats = await env.deps.db('chats').whereIn('id', [a, b, archived]).select('id', 'last_seq');
    expect(Object.fromEntries(chats.map((c) => [String(c.id), Number(c.last_seq)]))).toEqual({ [a]: 3, [b]: 3, [archived]: 0 });
    const stored = await env.deps
      .db('messages')
      .whereIn('chat_id', [a, b, archived])
      .orderBy(['chat_id', 'seq'])
      .select('id', 'seq', 'published_at', 'rendered');
    expect(stored.map((r) => r.id)).toEqual([elsewhere.id, jobs.first.id, jobs.mention.id, root.id, jobs.toB.id, jobs.reply.id]);
    expect(stored.every((r) => r.published_at !== null)).toBe(true);
    expect(stored.find((r) => r.id === jobs.first.id)!.rendered).toBe('<p>one</p>');

    // One event per stored message, in seq order per chat, as stored.
    const inA = await createdEvents(mark, a);
    const inB = await createdEvents(mark, b);
    expect(inA.map((e) => [e.data.id, e.data.seq])).toEqual([
      [jobs.first.id, 2],
      [jobs.mention.id, 3],
    ]);
    expect(inB.map((e) => [e.data.id, e.data.seq])).toEqual([
      [jobs.toB.id, 2],
      [jobs.reply.id, 3],
    ]);
    expect(inA[0].data.accepted_at).toBe(jobs.first.accepted_at);

    // The mention reached bob; the message took ann's file, not bob's.
    const mentionEvent = inA[1].data;
    expect(mentionEvent.mentions).toEqual([{ type: 'user', user_id: bob.id, username: bob.username }]);
    expect((mentionEvent.attachments as Array<{ id: string }>).map((f) => f.id)).toEqual([annsFile]);
    const recipients = await env.deps
      .db('mention_recipients')
      .whereIn('message_id', [jobs.mention.id, jobs.reply.id])
      .select('message_id', 'user_id', 'kind', 'seq');
    expect(recipients.map((r) => [r.message_id, String(r.user_id), r.kind, Number(r.seq)]).sort()).toEqual(
      [
        [jobs.mention.id, bob.id, 'user', 3],
        [jobs.reply.id, ann.id, 'user', 3],
      ].sort(),
    );
    const files = await env.deps.db('attachments').whereIn('id', [annsFile, bobsFile]).orderBy('filename').select('id', 'message_id');
    expect(files.map((f) => [f.id, f.message_id])).toEqual([
      [annsFile, jobs.mention.id],
      [bobsFile, null],
    ]);

    // The reply counts on its root (also in its event) and follows the thread for the replier
    // (read up to the reply) and for the root's author, whom it also mentions.
    expect(inB[1].data.thread).toMatchObject({ root_id: root.id, reply_count: 1 });
    expect(Number((await env.deps.db('messages').where({ id: root.id }).first('reply_count')).reply_count)).toBe(1);
    const follows = await env.deps.db('thread_follows').where({ root_id: root.id }).select('user_id', 'last_read_seq');
    expect(Object.fromEntries(follows.map((f) => [String(f.user_id), Number(f.last_read_seq)]))).toEqual({ [bob.id]: 3, [ann.id]: 0 });

    // Your own message counts as read.
    const read = await env.deps.db('chat_members').where({ chat_id: a, user_id: ann.id }).first('last_read_seq');
    expect(Number(read.last_read_seq)).toBe(3);

    // The same batch again (a retry): nothing new stored, nothing announced twice.
    const mark2 = await streamMark(env);
    const again = await persistMessages(env.deps, Object.values(jobs));
    expect(again.get(jobs.first.id)).toEqual({ id: jobs.first.id, status: 'already_stored', seq: 2 });
    expect(again.get(jobs.reply.id)).toEqual({ id: jobs.reply.id, status: 'already_stored', seq: 3 });
    expect(again.get(jobs.again.id)?.status).toBe('duplicate_client_id');
    expect(again.get(jobs.stranger.id)?.reason).toBe('not_member');
    expect((await streamEventsAfter(env, mark2)).filter((e) => e.type === 'message.created')).toEqual([]);
    expect(Number((await env.deps.db('chats').where({ id: a }).first('last_seq')).last_seq)).toBe(3);
  });

  it('announces rows a dead worker committed but never announced before its own, once, with their files and thread counts', async () => {
    const chat = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'leftovers');
    // As a worker killed between COMMIT and XADD leaves them: stored, published_at null.
    const root = await fixtureMessage(env.deps, chat, ann, 'left over root');
    const file = await upload(ann, chat, 'left-over.txt');
    await env.deps.db('attachments').where({ id: file }).update({ message_id: root.id });
    const mark = await streamMark(env);

    const reply = job(bob, chat, 'a new reply', { thread_root_id: root.id });
    const outcomes = await persistMessages(env.deps, [reply]);
    expect(outcomes.get(reply.id)).toEqual({ id: reply.id, status: 'stored', seq: 2 });

    const events = await createdEvents(mark, chat);
    expect(events.map((e) => [e.data.id, e.data.seq])).toEqual([
      [root.id, 1],
      [reply.id, 2],
    ]);
    expect((events[0].data.attachments as Array<{ id: string }>).map((f) => f.id)).toEqual([file]);
    // The root's own event carries the count the batch left it with, like the reply's.
    expect(events[0].data.reply_count).toBe(1);
    expect(events[1].data.thread).toMatchObject({ root_id: root.id, reply_count: 1 });
    const unpublished = await env.deps.db('messages').where({ chat_id: chat }).whereNull('published_at').count({ n: '*' });
    expect(Number(unpublished[0].n)).toBe(0);

    // The next batch finds nothing left over.
    const mark2 = await streamMark(env);
    const next = job(ann, chat, 'after');
    await persistMessages(env.deps, [next]);
    expect((await createdEvents(mark2, chat)).map((e) => e.data.id)).toEqual([next.id]);
  });
});
