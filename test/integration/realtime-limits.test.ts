// Limits of the real-time edge under abuse, against an in-process `all` role (REST and
// WebSocket/SSE on one port): typing frames share the REST route's limit, every connection has
// a frame budget, replies respect the send buffer, and connection attempts are limited per user.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { publishEvents } from '../../src/infra/events.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace } from '../helpers/fixtures.js';
import { messageEvent, openSse, openWs, type Frame, type WsClient } from '../helpers/realtime.js';

const TYPING_PER_MINUTE = 3;
const FRAMES_PER_SECOND = 20;
const CONNECTS_PER_MINUTE = 5;

let env: TestEnv;
let app: Running;
let request: ReturnType<typeof client>;

beforeAll(async () => {
  env = await createTestEnv({
    RATE_LIMIT_TYPING_PER_MINUTE: String(TYPING_PER_MINUTE),
    WS_FRAME_RATE_PER_SECOND: String(FRAMES_PER_SECOND),
    RATE_LIMIT_CONNECT_PER_MINUTE: String(CONNECTS_PER_MINUTE),
    WORKER_QUEUES: 'receipts',
  });
  app = await startInProcess(env, 'all');
  request = client(app.url);
});
afterAll(async () => {
  await app?.stop();
  await env?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rateLimited = (frames: Frame[]) => frames.filter((f) => f.type === 'error' && f.error?.code === 'rate_limited');
const pongs = (frames: Frame[]) => frames.filter((f) => f.type === 'pong');
const retryAfter = (f: Frame) => (f.error as { retry_after?: number } | undefined)?.retry_after;

async function world() {
  const [alice, bob] = await Promise.all(['Alice', 'Bob'].map((n) => fixtureUser(env.deps, n)));
  const ws = await fixtureWorkspace(env.deps, alice, [[bob, 'member']]);
  const chat = await fixtureChat(env.deps, ws, alice, [bob]);
  return { alice, bob, ws, chat };
}

/** The status and Retry-After of a refused WebSocket handshake. */
function refusal(token: string): Promise<{ status: number; retryAfter?: string }> {
  const ws = new WebSocket(`${app.url.replace(/^http/, 'ws')}/api/v1/ws?access_token=${token}`);
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] });
    });
    ws.once('open', () => reject(new Error('the handshake was accepted')));
    ws.once('error', () => {});
  });
}

describe('typing frames', () => {
  it('spend the same per-user limit as POST /chats/:cid/typing and get rate_limited error frames past it', async () => {
    const { alice, bob, ws, chat } = await world();
    const bobTab = await openWs(app.url, bob.token);
    const aliceTab = await openWs(app.url, alice.token);
    expect((await request('POST', `/api/v1/chats/${chat}/typing`, { token: alice.token, body: {} })).status).toBe(204);
    await sleep(1100); // past the one-event-a-second guard, so every allowed typing could publish
    // Points 2 and 3 of 3, then three frames over the limit.
    for (let i = 0; i < 5; i++) aliceTab.send({ type: 'typing', chat_id: chat });
    await aliceTab.inbox.until((fs) => rateLimited(fs).length === 3, 5000, 'three rate_limited error frames');
    for (const f of rateLimited(aliceTab.inbox.frames)) {
      expect(f).toEqual({ type: 'error', error: { code: 'rate_limited', message: expect.any(String), details: [], retry_after: expect.any(Number) } });
      expect(retryAfter(f)).toBeGreaterThan(0);
    }
    await sleep(1100);
    aliceTab.send({ type: 'typing', chat_id: chat });
    await aliceTab.inbox.until((fs) => rateLimited(fs).length === 4, 5000, 'a fourth rate_limited error frame');
    // The REST twin is refused too: one limit, whichever way it is spent.
    const rest = await request('POST', `/api/v1/chats/${chat}/typing`, { token: alice.token, body: {} });
    expect(rest.status).toBe(429);
    expect(rest.body.error.code).toBe('rate_limited');

    // Bob saw the two typings the limit allowed to publish (REST, then the first frame), and no more:
    // a marker published after everything arrives behind any typing event that slipped through.
    await bobTab.inbox.until((fs) => fs.filter((f) => f.type === 'typing').length >= 2);
    const [marker] = await publishEvents(env.deps.redis, env.deps.stream, [messageEvent(ws, chat, bob.id, 1)]);
    await bobTab.inbox.seen(marker);
    expect(bobTab.inbox.events('typing')).toHaveLength(2);
    await Promise.all([aliceTab.close(), bobTab.close()]);
  });
});

describe('frame budget', () => {
  it('answers a burst past the budget with rate_limited error frames, closes a sustained flood with 1008, and spares other connections', async () => {
    const { alice } = await world();
    const flood = await openWs(app.url, alice.token);
    const calm = await openWs(app.url, alice.token);

    for (let i = 0; i < 200; i++) flood.send({ type: 'ping' });
    await flood.inbox.until((fs) => pongs(fs).length + rateLimited(fs).length === 200, 5000, '200 replies');
    const burst = 2 * FRAMES_PER_SECOND;
    expect(pongs(flood.inbox.frames).length).toBeGreaterThanOrEqual(burst);
    expect(pongs(flood.inbox.frames).length).toBeLessThan(burst + 10); // plus what refilled during the burst
    expect(rateLimited(flood.inbox.frames).length).toBeGreaterThan(150);
    expect(retryAfter(rateLimited(flood.inbox.frames)[0])).toBeGreaterThan(0);
    expect(flood.ws.readyState).toBe(WebSocket.OPEN);

    // The other tab of the same user has its own budget.
    calm.send({ type: 'ping' });
    await calm.inbox.until((fs) => pongs(fs).length === 1);

    // Keeping it up is a flood: closed with 1008 (policy violation).
    let closed: { code: number } | undefined;
    void flood.closed.then((c) => (closed = c));
    for (let i = 0; i < 20 && !closed; i++) {
      for (let j = 0; j < 20 && flood.ws.readyState === WebSocket.OPEN; j++) flood.send({ type: 'ping' });
      await sleep(50);
    }
    expect((await flood.closed).code).toBe(1008);

    calm.send({ type: 'ping' });
    await calm.inbox.until((fs) => pongs(fs).length === 2);
    expect(calm.ws.readyState).toBe(WebSocket.OPEN);
    await calm.close();
  });
});

describe('connection attempts', () => {
  it(`refuses more than RATE_LIMIT_CONNECT_PER_MINUTE per user, WebSocket and SSE alike, with 429 and Retry-After`, async () => {
    const { alice, bob } = await world();
    for (let i = 0; i < CONNECTS_PER_MINUTE - 1; i++) await (await openWs(app.url, alice.token)).close();
    (await openSse(app.url, alice.token)).close();

    const ws = await refusal(alice.token);
    expect(ws.status).toBe(429);
    expect(Number(ws.retryAfter)).toBeGreaterThan(0);
    const sse = await request('GET', '/api/v1/events', { token: alice.token });
    expect(sse.status).toBe(429);
    expect(sse.body).toEqual({ error: { code: 'rate_limited', message: expect.any(String), details: [] } });
    expect(Number(sse.headers.get('retry-after'))).toBeGreaterThan(0);

    // Another user is not affected.
    const other = await openWs(app.url, bob.token);
    await other.close();
  });
});

describe('replies and the send buffer', () => {
  let big: TestEnv;
  let fanout: Running;

  // A budget high enough that only the send buffer stands between a non-reading client and the
  // server's memory (the kernel's socket buffers absorb the first few megabytes).
  beforeAll(async () => {
    big = await createTestEnv({ WS_FRAME_RATE_PER_SECOND: '10000', SEND_BUFFER_BYTES: '65536' });
    fanout = await startInProcess(big, 'fanout');
  });
  afterAll(async () => {
    await fanout?.stop();
    await big?.close();
  });

  it('ends a client that floods frames without reading the replies, instead of buffering them without bound', async () => {
    const alice = await fixtureUser(big.deps, 'Alice');
    const tab: WsClient = await openWs(fanout.url, alice.token);
    tab.ws.on('error', () => {});
    tab.ws.pause(); // never reads
    // Each frame is answered with an error frame as large as the frame (it names the unknown key).
    const frame = JSON.stringify({ type: 'ping', [`x${'y'.repeat(12_000)}`]: 1 });
    const sent = 1000; // about 12 MB of replies, well past the kernel's buffers
    for (let i = 0; i < sent && tab.ws.readyState === WebSocket.OPEN; i++) tab.send(frame);
    // Once the server has read every frame (and had a moment to answer), read again.
    await eventually(async () => tab.ws.bufferedAmount === 0);
    await sleep(500);
    tab.ws.resume();
    const closed = await Promise.race([tab.closed, sleep(10_000).then(() => undefined)]);
    expect(closed, 'the connection was ended').toBeDefined();
    expect(closed!.code).not.toBe(1008); // not the frame budget: the send buffer
    expect(tab.inbox.frames.length).toBeLessThan(sent);
  });
});
