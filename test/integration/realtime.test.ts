// Real-time delivery against an in-process fanout: real `ws` clients and a real EventSource.
// Events are produced the way domain code produces them (publishEvents to the stream).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { signAccessToken } from '../../src/domain/tokens.js';
import { publishEvents, shardOf, type ChatEvent } from '../../src/infra/events.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';
import { messageEvent, openSse, openWs, resumeIdFor, streamIdOf, type Frame } from '../helpers/realtime.js';

let env: TestEnv;
let fanout: Running;

beforeAll(async () => {
  env = await createTestEnv({ CONNECTION_LIMIT: '3', HEARTBEAT_SECONDS: '1', WS_MAX_PAYLOAD_BYTES: '1024', SEND_BUFFER_BYTES: '65536' });
  fanout = await startInProcess(env, 'fanout');
});
afterAll(async () => {
  await fanout?.stop();
  await env?.close();
});

const publish = (...events: ChatEvent[]) => publishEvents(env.deps.redis, env.deps.stream, events);
const seqs = (frames: Frame[], chatId?: string) =>
  frames.filter((f) => f.type === 'message.created' && (!chatId || f.chat_id === chatId)).map((f) => f.data.seq as number);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** alice and bob share `chat`; carol is in the workspace and in `side` with alice only. */
async function world() {
  const [alice, bob, carol] = await Promise.all(['Alice', 'Bob', 'Carol'].map((n) => fixtureUser(env.deps, n)));
  const ws = await fixtureWorkspace(env.deps, alice, [
    [bob, 'member'],
    [carol, 'member'],
  ]);
  const chat = await fixtureChat(env.deps, ws, alice, [bob]);
  const side = await fixtureChat(env.deps, ws, alice, [carol], 'private', 'side');
  const msg = (chatId: string, seq: number, sender: FixtureUser = alice) => messageEvent(ws, chatId, sender.id, seq);
  return { alice, bob, carol, ws, chat, side, msg };
}

describe('handshake', () => {
  it('refuses a WebSocket without a token, or with a bad one, with 401 and the error shape', async () => {
    const refusal = await openWs(fanout.url, undefined).then(
      () => null,
      (err: Error) => err.message,
    );
    expect(refusal).toMatch(/^HTTP 401 /);
    expect(JSON.parse(refusal!.slice('HTTP 401 '.length))).toEqual({ error: { code: 'unauthenticated', message: expect.any(String), details: [] } });
    await expect(openWs(fanout.url, 'not-a-token')).rejects.toThrow('HTTP 401');
    const forged = signAccessToken({ ...env.deps.tokens, secret: 'x'.repeat(40) }, '1', randomUUID());
    await expect(openWs(fanout.url, forged)).rejects.toThrow('HTTP 401');
  });

  it('refuses SSE without a valid token with 401 and the error shape', async () => {
    const res = await client(fanout.url)('GET', '/api/v1/events');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { code: 'unauthenticated', message: expect.any(String), details: [] } });
    const bad = await client(fanout.url)('GET', '/api/v1/events?access_token=nope');
    expect(bad.status).toBe(401);
  });

  it('takes the WebSocket token from the Authorization header too', async () => {
    const { alice, chat, msg } = await world();
    const tab = await openWs(fanout.url, alice.token, { viaHeader: true });
    const [id] = await publish(msg(chat, 1));
    await tab.inbox.seen(id);
    await tab.close();
  });

  it('limits connections per user and process (WebSocket 429, SSE 429 with the error shape)', async () => {
    const { bob } = await world();
    const tabs = [await openWs(fanout.url, bob.token), await openWs(fanout.url, bob.token), await openSse(fanout.url, bob.token)];
    await expect(openWs(fanout.url, bob.token)).rejects.toThrow(/HTTP 429 .*"code":"rate_limited"/);
    const res = await client(fanout.url)('GET', '/api/v1/events', { token: bob.token });
    expect(res.status).toBe(429);
    expect(res.body.error.code).toBe('rate_limited');
    expect(res.headers.get('retry-after')).toBeTruthy();
    // A closed tab frees its slot.
    await tabs[0].close();
    const again = await eventuallyOpen(() => openWs(fanout.url, bob.token));
    await again.close();
    await tabs[1].close();
    tabs[2].close();
  });
});

async function eventuallyOpen<T>(open: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await open();
    } catch (err) {
      if (i > 40) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('delivery', () => {
  it('delivers every event of a chat, in order, exactly once, to every tab of every member and to nobody else', async () => {
    const { alice, bob, carol, chat, side, msg } = await world();
    const aliceWs = await openWs(fanout.url, alice.token);
    const aliceSse = await openSse(fanout.url, alice.token);
    const bobWs = await openWs(fanout.url, bob.token);
    const bobTab2 = await openWs(fanout.url, bob.token);
    const carolWs = await openWs(fanout.url, carol.token);

    const ids = await publish(...range(1, 30).map((seq) => msg(chat, seq)));
    // Carol's sentinel: an event of her own chat, published after; the stream keeps order, so
    // once she has it she would already have had any event of `chat` sent to her.
    const [sentinel] = await publish(msg(side, 1));

    for (const tab of [aliceWs, aliceSse, bobWs, bobTab2]) {
      const frames = await tab.inbox.until((fs) => seqs(fs, chat).length >= 30);
      expect(seqs(frames, chat)).toEqual(range(1, 30));
      expect(tab.inbox.ids().filter((id) => ids.includes(id))).toEqual(ids);
    }
    await carolWs.inbox.seen(sentinel);
    await aliceWs.inbox.seen(sentinel);
    expect(carolWs.inbox.events().map((f) => f.chat_id)).toEqual([side]);
    await bobWs.inbox.until(() => true);
    expect(bobWs.inbox.events().some((f) => f.chat_id === side)).toBe(false);

    // The envelope shape, and SSE's id/event lines mirror it.
    const first = aliceSse.inbox.events()[0];
    expect(Object.keys(first).sort()).toEqual(['chat_id', 'data', 'id', 'sseId', 'type', 'workspace_id']);
    expect(first.sseId).toBe(first.id);
    expect({ ...first, id: streamIdOf(first) }).toMatchObject({
      id: ids[0],
      type: 'message.created',
      chat_id: chat,
      data: { seq: 1, client_id: expect.any(String) },
    });
    expect(JSON.stringify(aliceWs.inbox.events()[0])).toBe(JSON.stringify((({ sseId: _sseId, ...rest }) => rest)(first)));

    for (const tab of [aliceWs, bobWs, bobTab2, carolWs]) await tab.close();
    aliceSse.close();
  });

  it('delivers workspace presence to members of that workspace only', async () => {
    const { alice, bob } = await world();
    const outsider = await fixtureUser(env.deps, 'Olga');
    const otherWs = await fixtureWorkspace(env.deps, outsider);
    const bobWs = await openWs(fanout.url, bob.token);
    const olga = await openWs(fanout.url, outsider.token);
    const wsId = (await env.deps.db('workspace_members').where({ user_id: bob.id }).first('workspace_id')).workspace_id;
    const [presence] = await publish({ type: 'presence.updated', workspace_id: String(wsId), chat_id: null, data: { user_id: alice.id, status: 'online' } });
    const [own] = await publish({ type: 'presence.updated', workspace_id: otherWs, chat_id: null, data: { user_id: outsider.id, status: 'online' } });
    await bobWs.inbox.seen(presence);
    await olga.inbox.seen(own);
    expect(olga.inbox.events('presence.updated').map(streamIdOf)).toContain(own);
    // (By workspace: with several shards, two streams can give two events the same id.)
    expect(olga.inbox.events('presence.updated').filter((f) => f.workspace_id === String(wsId))).toEqual([]);
    await bobWs.close();
    await olga.close();
  });

  it('applies membership changes to live connections: joined receives, left stops at once', async () => {
    const { alice, carol, ws, chat, side, msg } = await world();
    const carolWs = await openWs(fanout.url, carol.token);
    const carolSse = await openSse(fanout.url, carol.token);
    const aliceWs = await openWs(fanout.url, alice.token);

    const [before] = await publish(msg(chat, 1));
    const [joined] = await publish({ type: 'chat.member_joined', workspace_id: ws, chat_id: chat, data: { user_id: carol.id } });
    const [during] = await publish(msg(chat, 2));
    const [left] = await publish({ type: 'chat.member_left', workspace_id: ws, chat_id: chat, data: { user_id: carol.id } });
    const [after] = await publish(msg(chat, 3));
    const [sentinel] = await publish(msg(side, 1));

    for (const tab of [carolWs, carolSse]) {
      await tab.inbox.seen(sentinel);
      expect(tab.inbox.ids()).toEqual([joined, during, left, sentinel]);
    }
    await aliceWs.inbox.seen(sentinel);
    expect(aliceWs.inbox.ids()).toEqual([before, joined, during, left, after, sentinel]);

    // A chat created with her as a member reaches her without reconnecting.
    const newChat = '999000' + Math.floor(Math.random() * 1000);
    const [created] = await publish({
      type: 'chat.created',
      workspace_id: ws,
      chat_id: newChat,
      data: { id: newChat, type: 'group', member_ids: [alice.id, carol.id] },
    });
    const [inNew] = await publish(msg(newChat, 1));
    await carolWs.inbox.seen(inNew);
    expect(carolWs.inbox.ids().slice(-2)).toEqual([created, inNew]);
    await carolWs.close();
    carolSse.close();
    await aliceWs.close();
  });
});

describe('resume', () => {
  it('WebSocket: replays what was missed, in order, none repeated, then continues live', async () => {
    const { alice, bob, chat, msg } = await world();
    const first = await openWs(fanout.url, bob.token);
    await publish(...range(1, 3).map((s) => msg(chat, s)));
    await first.inbox.until((fs) => seqs(fs).length === 3);
    const lastId = first.inbox.lastEventId()!;
    await first.close();

    // Missed while away (with a non-member's event mixed in, which must stay filtered).
    await publish(...range(4, 200).map((s) => msg(chat, s)));
    const resumed = await openWs(fanout.url, bob.token, { lastEventId: lastId });
    // Published while the replay runs: buffered, then delivered after it without overlap.
    await publish(...range(201, 260).map((s) => msg(chat, s, alice)));
    const frames = await resumed.inbox.until((fs) => seqs(fs).length >= 257, 10_000);
    expect(seqs(frames)).toEqual(range(4, 260));
    const ids = resumed.inbox.ids();
    expect(new Set(ids).size).toBe(ids.length);
    await resumed.close();
  });

  it('SSE: resumes from Last-Event-ID (header) and last_event_id (query)', async () => {
    const { bob, chat, msg } = await world();
    const first = await openSse(fanout.url, bob.token);
    await publish(...range(1, 5).map((s) => msg(chat, s)));
    await first.inbox.until((fs) => seqs(fs).length === 5);
    first.close();
    const lastId = first.inbox.events()[2].id!; // as if frames 4 and 5 were lost in flight

    await publish(...range(6, 40).map((s) => msg(chat, s)));
    const header = await openSse(fanout.url, bob.token, { lastEventId: lastId });
    await publish(msg(chat, 41));
    expect(seqs(await header.inbox.until((fs) => seqs(fs).length >= 38))).toEqual(range(4, 41));
    header.close();

    // The query form (for clients that cannot set headers).
    const url = new URL('/api/v1/events', fanout.url);
    url.searchParams.set('last_event_id', lastId);
    url.searchParams.set('access_token', bob.token);
    const res = await fetch(url, { signal: AbortSignal.timeout(1500) }).catch(() => null);
    expect(res?.status).toBe(200);
    const text = await readFor(res!, 500);
    const ids = [...text.matchAll(/^id: (.+)\nevent: (.+)\ndata: (.+)$/gm)]
      .filter((m) => m[2] !== 'presence.updated')
      .map((m) => streamIdOf({ id: m[1], workspace_id: (JSON.parse(m[3]) as Frame).workspace_id }));
    expect(ids).toEqual(header.inbox.ids());
  });

  it('answers resync_required first when the id was trimmed away or is malformed, then continues live', async () => {
    const { bob, chat, msg, ws } = await world();
    const old = await publish(...range(1, 5).map((s) => msg(chat, s)));
    await publish(...range(6, 10).map((s) => msg(chat, s)));
    // The age/length cap removed everything up to the 8th event.
    const shard = shardOf(env.deps.stream, ws).key;
    const all = await env.deps.redis.xrange(shard, '-', '+');
    const eighth = all.findIndex(([id]) => id === old[4]) + 3;
    await env.deps.redis.xtrim(shard, 'MINID', all[eighth + 1][0]);

    for (const lastEventId of [resumeIdFor(old[1], ws), 'garbage', resumeIdFor('99999999999999-0', ws)]) {
      const tab = await openWs(fanout.url, bob.token, { lastEventId });
      // The resync frame carries the stream position it stands for; what follows is newer.
      await tab.inbox.until((fs) => fs.length > 0);
      const [live] = await publish(msg(chat, 100));
      const frames = await tab.inbox.seen(live);
      expect(frames[0]).toEqual({ id: expect.any(String), type: 'resync_required', workspace_id: null, chat_id: null, data: {} });
      expect(frames.filter((f) => f.type !== 'resync_required' && f.type !== 'presence.updated').map(streamIdOf)).toEqual([live]);
      await tab.close();
    }
    const sse = await openSse(fanout.url, bob.token, { lastEventId: resumeIdFor(old[0], ws) });
    await sse.inbox.until((fs) => fs.length > 0);
    const [live] = await publish(msg(chat, 101));
    const frames = await sse.inbox.seen(live);
    expect(frames.map((f) => f.type).filter((t) => t !== 'presence.updated')).toEqual(['resync_required', 'message.created']);
    sse.close();
  });

  it('a resume that ends in resync goes on with the membership of now, not the one rewound to the old id', async () => {
    const { alice, bob, ws, chat, msg } = await world();
    const other = await fixtureChat(env.deps, ws, alice, [bob], 'private', 'other');
    const first = await openWs(fanout.url, bob.token);
    const [seen] = await publish(msg(chat, 1));
    await first.inbox.seen(seen);
    const resumeFrom = first.inbox.lastEventId()!;
    await first.close();
    // Removed from the chat while away; then the stream is trimmed past the old id (its membership log lives longer).
    await env.deps.db('chat_members').where({ chat_id: chat, user_id: bob.id }).delete();
    const [left] = await publish({ type: 'chat.member_left', workspace_id: ws, chat_id: chat, data: { user_id: bob.id } });
    await env.deps.redis.xtrim(shardOf(env.deps.stream, ws).key, 'MINID', left);

    const resumed = await openWs(fanout.url, bob.token, { lastEventId: resumeFrom });
    await resumed.inbox.until((fs) => fs.length > 0);
    expect(resumed.inbox.frames[0].type).toBe('resync_required');
    const [, sentinel] = await publish(msg(chat, 2), msg(other, 1));
    await resumed.inbox.seen(sentinel);
    expect(resumed.inbox.events('message.created').map((f) => f.chat_id)).toEqual([other]);
    await resumed.close();
  });
});

async function readFor(res: Response, ms: number): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + ms;
  try {
    while (Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), new Promise<null>((r) => setTimeout(() => r(null), deadline - Date.now()))]);
      if (!chunk || chunk.done) break;
      text += decoder.decode(chunk.value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text;
}

describe('client frames and connection care', () => {
  it('answers ping with pong, invalid frames with an error frame, and keeps the connection', async () => {
    const { bob, chat, msg } = await world();
    const tab = await openWs(fanout.url, bob.token);
    tab.send({ type: 'ping' });
    await tab.inbox.until((fs) => fs.some((f) => f.type === 'pong'));
    for (const bad of [
      '{nope',
      JSON.stringify({ type: 'shout' }),
      JSON.stringify({ type: 'typing' }),
      JSON.stringify({ type: 'typing', chat_id: 'x' }),
      '[]',
      'null',
    ]) {
      tab.send(bad);
    }
    tab.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    const errors = (await tab.inbox.until((fs) => fs.filter((f) => f.type === 'error').length === 7)).filter((f) => f.type === 'error');
    for (const e of errors) expect(e.error).toMatchObject({ code: 'validation_failed', message: expect.any(String) });
    const [id] = await publish(msg(chat, 1));
    await tab.inbox.seen(id);
    tab.send({ type: 'ping' });
    await tab.inbox.until((fs) => fs.filter((f) => f.type === 'pong').length === 2);
    await tab.close();
  });

  it('closes a connection whose frame exceeds WS_MAX_PAYLOAD_BYTES with 1009', async () => {
    const { bob } = await world();
    const tab = await openWs(fanout.url, bob.token);
    tab.send({ type: 'ping', pad: 'x'.repeat(2000) });
    expect((await tab.closed).code).toBe(1009);
  });

  it('typing frames reach the other members, not the typist, at most once a second', async () => {
    const { alice, bob, carol, chat, side, msg } = await world();
    const aliceTab1 = await openWs(fanout.url, alice.token);
    const aliceTab2 = await openWs(fanout.url, alice.token);
    const bobTab = await openWs(fanout.url, bob.token);
    const carolTab = await openWs(fanout.url, carol.token);
    for (let i = 0; i < 3; i++) aliceTab1.send({ type: 'typing', chat_id: chat });
    const typing = (await bobTab.inbox.until((fs) => fs.some((f) => f.type === 'typing'))).find((f) => f.type === 'typing')!;
    expect(typing).toMatchObject({ chat_id: chat, data: { user_id: alice.id, expires_at: expect.any(String) } });
    expect(Date.parse(typing.data.expires_at)).toBeGreaterThan(Date.now());
    const [sentinel] = await publish(msg(chat, 1), msg(side, 1)).then((ids) => [ids[1]]);
    await aliceTab2.inbox.seen(sentinel);
    await aliceTab1.inbox.seen(sentinel);
    await carolTab.inbox.seen(sentinel);
    expect([...aliceTab1.inbox.events(), ...aliceTab2.inbox.events(), ...carolTab.inbox.events()].some((f) => f.type === 'typing')).toBe(false);
    expect(bobTab.inbox.events('typing')).toHaveLength(1); // rate limited

    // Not a member of `side`: an error frame, nothing published.
    bobTab.send({ type: 'typing', chat_id: side });
    const err = (await bobTab.inbox.until((fs) => fs.some((f) => f.type === 'error'))).find((f) => f.type === 'error')!;
    expect(err.error!.code).toBe('not_found');
    for (const tab of [aliceTab1, aliceTab2, bobTab, carolTab]) await tab.close();
  });

  it('pings every HEARTBEAT_SECONDS and terminates a peer that stops answering', async () => {
    const { bob } = await world();
    const healthy = await openWs(fanout.url, bob.token);
    let pings = 0;
    healthy.ws.on('ping', () => pings++);
    const silent = await openWs(fanout.url, bob.token, { wsOptions: { autoPong: false } });
    const { code } = await silent.closed; // terminated after a missed pong: abnormal closure
    expect(code).toBe(1006);
    expect(pings).toBeGreaterThanOrEqual(1);
    expect(healthy.ws.readyState).toBe(WebSocket.OPEN);
    await healthy.close();
  });

  it('sends SSE comment heartbeats', async () => {
    const { bob } = await world();
    const res = await fetch(new URL('/api/v1/events', fanout.url), { headers: { authorization: `Bearer ${bob.token}` } });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await readFor(res, 1500)).toContain(': ping\n\n');
  });

  it('closes with 4001 "token expired" (WebSocket) and an error event (SSE) when the token expires', async () => {
    const { bob } = await world();
    // exp has whole seconds: a 1 s token signed late in a second expires at once, before the connect.
    const short = signAccessToken({ ...env.deps.tokens, expiresInSeconds: 2 }, bob.id, bob.sessionId);
    const tab = await openWs(fanout.url, short);
    const sse = await openSse(fanout.url, short);
    expect(await tab.closed).toEqual({ code: 4001, reason: 'token expired' });
    await expect.poll(() => sse.errors, { timeout: 3000 }).toEqual([{ type: 'error', error: { code: 'unauthenticated', message: 'token expired' } }]);
    sse.close();
  });

  it('disconnects a consumer that stops reading once its send buffer is full', async () => {
    const { bob, chat, msg } = await world();
    const slow = await openWs(fanout.url, bob.token);
    (slow.ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const big = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 8; i++) await publish(...range(1, 50).map((s) => ({ ...msg(chat, i * 50 + s), data: { ...msg(chat, s).data, content: big } })));
    (slow.ws as unknown as { _socket: import('node:net').Socket })._socket.resume();
    const { code } = await slow.closed;
    expect(code).toBe(1006);
    expect(seqs(slow.inbox.frames).length).toBeLessThan(400);
  });
});

describe('shutdown', () => {
  it('closes WebSockets with 1001 and ends SSE streams', async () => {
    const { bob } = await world();
    const second = await startInProcess(env, 'fanout');
    const tab = await openWs(second.url, bob.token);
    const res = await fetch(new URL('/api/v1/events', second.url), { headers: { authorization: `Bearer ${bob.token}` } });
    const reading = readFor(res, 5000);
    const started = Date.now();
    await second.stop();
    expect(Date.now() - started).toBeLessThan(3000);
    expect((await tab.closed).code).toBe(1001);
    await reading; // ends (does not hang until the 5 s deadline)
    expect(Date.now() - started).toBeLessThan(4000);
  });
});
