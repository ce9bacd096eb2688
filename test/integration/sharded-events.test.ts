// Sharded event streams (EVENT_STREAM_SHARDS=8), through the real API, persist worker and fanout
// (in-process `all`): the fanout reads only the shards of its connected users' workspaces, starts
// reading another when a user joins a workspace there (live, or while away: on resume), and every
// event reaches the client exactly once, in order per chat, across resumes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareEventIds, workspaceShard } from '../../src/infra/events.js';
import { decodeCursor } from '../../src/realtime/cursor.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureUser, type FixtureUser } from '../helpers/fixtures.js';
import { openWs, type Frame, type WsClient } from '../helpers/realtime.js';

const SHARDS = 8;
let env: TestEnv;
let app: Running;
let request: ReturnType<typeof client>;

beforeAll(async () => {
  env = await createTestEnv({ EVENT_STREAM_SHARDS: String(SHARDS) });
  app = await startInProcess(env, 'all');
  request = client(app.url);
});
afterAll(async () => {
  await app?.stop();
  await env?.close();
});

/** The shards this process's fanout reads now: its reader connections, by name (CLIENT LIST). */
async function shardsRead(): Promise<number[]> {
  const list = (await env.deps.redis.call('CLIENT', 'LIST')) as string;
  const prefix = `fechatter:fanout-reader:${process.pid}:`;
  return [...list.matchAll(/name=(\S+)/g)]
    .map((m) => m[1])
    .filter((name) => name.startsWith(prefix))
    .map((name) => Number(name.slice(prefix.length)))
    .sort((a, b) => a - b);
}

/** Workspaces of `owner` on `count` different shards (ids are sequential, so a few tries do). */
async function workspacesOnDistinctShards(owner: FixtureUser, count: number): Promise<Array<{ id: string; shard: number }>> {
  const found = new Map<number, string>();
  while (found.size < count) {
    const res = await request('POST', '/api/v1/workspaces', { token: owner.token, body: { name: `w${found.size}-${Math.random()}` } });
    expect(res.status).toBe(201);
    const shard = workspaceShard(SHARDS, res.body.id);
    if (!found.has(shard)) found.set(shard, res.body.id);
  }
  return [...found].map(([shard, id]) => ({ id, shard }));
}

async function join(user: FixtureUser, workspaceId: string, owner: FixtureUser): Promise<void> {
  const invite = await request('POST', `/api/v1/workspaces/${workspaceId}/invitations`, { token: owner.token, body: { role: 'member' } });
  expect(invite.status).toBe(201);
  expect((await request('POST', `/api/v1/invitations/${invite.body.token}/accept`, { token: user.token })).status).toBe(200);
}

async function chatWith(owner: FixtureUser, workspaceId: string, members: FixtureUser[]): Promise<string> {
  const res = await request('POST', `/api/v1/workspaces/${workspaceId}/chats`, {
    token: owner.token,
    body: { type: 'group', member_ids: members.map((m) => m.id) },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

let n = 0;
async function say(as: FixtureUser, chatId: string): Promise<string> {
  const content = `m${++n}`;
  const res = await request('POST', `/api/v1/chats/${chatId}/messages`, { token: as.token, body: { content, client_id: content } });
  expect(res.status).toBe(202);
  return content;
}

const messages = (frames: Frame[], chatId?: string) =>
  frames.filter((f) => f.type === 'message.created' && (!chatId || f.chat_id === chatId)).map((f) => f.data.content as string);
const got = (c: WsClient, contents: string[]) =>
  c.inbox.until((fs) => contents.every((m) => messages(fs).includes(m)), 10_000, `messages ${contents.join(', ')}`);

describe('sharded event streams', () => {
  it('the fanout reads only the shards its users need, and a user who joins a workspace elsewhere gets it live and on resume, once each', async () => {
    const [alice, bob] = await Promise.all([fixtureUser(env.deps, 'Alice'), fixtureUser(env.deps, 'Bob')]);
    const [w1, w2, w3] = await workspacesOnDistinctShards(alice, 3);
    await join(bob, w1.id, alice);
    const c1 = await chatWith(alice, w1.id, [bob]);

    const live = await openWs(app.url, bob.token);
    await eventually(async () => (await shardsRead()).includes(w1.shard));
    const first = [await say(alice, c1), await say(alice, c1)];
    await got(live, first);
    // Only bob is connected: the other workspaces' shards have no reader here.
    expect((await shardsRead()).filter((k) => k === w2.shard || k === w3.shard)).toEqual([]);

    // Joined on another shard while connected: the join, then that workspace's chats, arrive live.
    await join(bob, w2.id, alice);
    await live.inbox.until((fs) => fs.some((f) => f.type === 'workspace.member_joined' && f.workspace_id === w2.id), 10_000, 'the join');
    const c2 = await chatWith(alice, w2.id, [bob]);
    const second = [await say(alice, c2), await say(alice, c1), await say(alice, c2)];
    await got(live, second);
    expect(await shardsRead()).toEqual(expect.arrayContaining([w1.shard, w2.shard]));
    const resumeFrom = live.inbox.lastEventId()!;
    await live.close();

    // Away: more on both shards, and a workspace joined on a third one.
    const missed = [await say(alice, c1), await say(alice, c2)];
    await join(bob, w3.id, alice);
    const c3 = await chatWith(alice, w3.id, [bob]);
    missed.push(await say(alice, c3), await say(alice, c1));
    // Let the worker store them all before resuming (the resume must replay them, not get them live).
    await eventually(async () => (await request('GET', `/api/v1/chats/${c3}/messages`, { token: alice.token })).body.items.length === 1);

    const resumed = await openWs(app.url, bob.token, { lastEventId: resumeFrom });
    await got(resumed, missed);
    const after = await say(alice, c3);
    await got(resumed, [after]);
    // Exactly what was missed, then live, once each and in order per chat; the third workspace's join too.
    expect(messages(resumed.inbox.frames)).toHaveLength(missed.length + 1);
    for (const chat of [c1, c2, c3]) {
      const mine = [...missed, after].filter((m) => messages(resumed.inbox.frames, chat).includes(m));
      expect(messages(resumed.inbox.frames, chat)).toEqual(mine);
    }
    expect(resumed.inbox.frames.filter((f) => f.type === 'workspace.member_joined' && f.workspace_id === w3.id)).toHaveLength(1);
    expect(resumed.inbox.frames.some((f) => f.type === 'resync_required')).toBe(false);
    expect(await shardsRead()).toEqual(expect.arrayContaining([w1.shard, w2.shard, w3.shard]));
    // Ids: opaque, and increasing for the connection: each shard's position only moves forward.
    const ids = resumed.inbox.frames.filter((f) => f.id).map((f) => f.id!);
    expect(new Set(ids).size).toBe(ids.length);
    const cursors = ids.map((id) => decodeCursor(SHARDS, id)!);
    cursors.slice(1).forEach((cursor, i) => {
      for (const [k, position] of cursors[i].shards) expect(compareEventIds(cursor.shards.get(k)!, position)).toBeGreaterThanOrEqual(0);
    });
    await resumed.close();

    const garbage = await openWs(app.url, bob.token, { lastEventId: `${SHARDS}.0-0.99:1-0` });
    await garbage.inbox.until((fs) => fs.length > 0);
    expect(garbage.inbox.frames[0].type).toBe('resync_required');
    await garbage.close();
  });
});
