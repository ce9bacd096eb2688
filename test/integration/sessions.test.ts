// Sessions end when they should: logout, a password change and refresh-token reuse end the
// session's access tokens (here at once, on another API process within seconds) and close its
// live WebSocket and SSE connections, while the user's other sessions go on.
import { randomUUID } from 'node:crypto';
import { EventSource } from 'eventsource';
import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closeDeps, createDeps, type Deps } from '../../src/deps.js';
import { signAccessToken } from '../../src/domain/tokens.js';
import { createLogger } from '../../src/observability/logger.js';
import { startRole, type Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, TEST_JWT_SECRET, type TestEnv } from '../helpers/env.js';
import { openSse, openWs, type SseClient } from '../helpers/realtime.js';

let env: TestEnv;
let api: Running;
let fanout: Running;
/** A second API instance with its own deps (pool, Redis connection, in-process caches): another process as far as caching goes. */
let otherDeps: Deps;
let otherApi: Running;
let request: ReturnType<typeof client>;
let otherRequest: ReturnType<typeof client>;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startInProcess(env, 'api');
  fanout = await startInProcess(env, 'fanout');
  otherDeps = await createDeps(env.config, createLogger('silent'));
  otherApi = await startRole('api', otherDeps);
  request = client(api.url);
  otherRequest = client(otherApi.url);
});
afterAll(async () => {
  await otherApi?.stop();
  if (otherDeps) await closeDeps(otherDeps);
  await fanout?.stop();
  await api?.stop();
  await env?.close();
});

interface Session {
  user: { id: string };
  email: string;
  password: string;
  access_token: string;
  refresh_token: string;
}

let n = 0;
async function signup(name: string): Promise<Session> {
  const email = `${name}-${++n}-${Date.now()}@example.com`;
  const password = 'correct horse battery';
  const res = await request('POST', '/api/v1/auth/signup', { body: { email, password, display_name: name } });
  expect(res.status).toBe(201);
  return { ...res.body, email, password };
}
/** Another session (another device) of the same user. */
async function login(s: Pick<Session, 'email' | 'password'>): Promise<Session> {
  const res = await request('POST', '/api/v1/auth/login', { body: { email: s.email, password: s.password } });
  expect(res.status).toBe(200);
  return { ...res.body, email: s.email, password: s.password };
}
const meStatus = async (via: ReturnType<typeof client>, token: string) => (await via('GET', '/api/v1/me', { token })).status;
const refreshStatus = async (refreshToken: string) => (await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: refreshToken } })).status;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with `promise`, or rejects after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`${what} did not happen within ${ms} ms`)))]);
}

const REVOKED_WS = { code: 4001, reason: 'session revoked' };
const REVOKED_SSE = { type: 'error', error: { code: 'unauthenticated', message: 'session revoked' } };
const revokedOverSse = (sse: SseClient) => expect.poll(() => sse.errors, { timeout: 5000 }).toContainEqual(REVOKED_SSE);

describe('logout', () => {
  it("refuses the session's access token at once here and within 3 s on another API process", async () => {
    const s = await signup('out');
    const other = await login(s);
    // Both instances have just seen the token as good (their caches hold it).
    expect(await meStatus(request, s.access_token)).toBe(200);
    expect(await meStatus(otherRequest, s.access_token)).toBe(200);

    expect((await request('POST', '/api/v1/auth/logout', { token: s.access_token, body: { refresh_token: s.refresh_token } })).status).toBe(204);
    const me = await request('GET', '/api/v1/me', { token: s.access_token });
    expect(me.status).toBe(401);
    expect(me.body).toEqual({ error: { code: 'unauthenticated', message: expect.any(String), details: [] } });
    await eventually(async () => (await meStatus(otherRequest, s.access_token)) === 401, 3000);

    // The user's other session is untouched, on both instances.
    expect(await meStatus(request, other.access_token)).toBe(200);
    expect(await meStatus(otherRequest, other.access_token)).toBe(200);
  });

  it('closes the WebSocket and SSE connections of that session within seconds, not those of another session', async () => {
    const s = await signup('sockets');
    const other = await login(s);
    const tab = await openWs(fanout.url, s.access_token);
    const stream = await openSse(fanout.url, s.access_token);
    const otherTab = await openWs(fanout.url, other.access_token);
    const otherStream = await openSse(fanout.url, other.access_token);

    expect((await request('POST', '/api/v1/auth/logout', { token: s.access_token, body: { refresh_token: s.refresh_token } })).status).toBe(204);
    expect(await within(tab.closed, 5000, 'closing the WebSocket')).toEqual(REVOKED_WS);
    await revokedOverSse(stream);
    stream.close();
    // Reconnecting with the revoked token is refused at the handshake.
    await expect(openWs(fanout.url, s.access_token)).rejects.toThrow('HTTP 401');
    expect((await client(fanout.url)('GET', '/api/v1/events', { token: s.access_token })).status).toBe(401);

    // Another sweep later, the other session's connections are still open.
    await sleep(2500);
    expect(otherTab.ws.readyState).toBe(WebSocket.OPEN);
    expect(otherStream.errors).toEqual([]);
    expect(otherStream.es.readyState).toBe(EventSource.OPEN);
    await otherTab.close();
    otherStream.close();
  });
});

describe('password change', () => {
  it("ends every other session (access and refresh tokens, sockets) and keeps the caller's", async () => {
    const s = await signup('pw');
    const other = await login(s);
    const mine = await openWs(fanout.url, s.access_token);
    const theirs = await openWs(fanout.url, other.access_token);
    const theirStream = await openSse(fanout.url, other.access_token);

    const changed = await request('PATCH', '/api/v1/me', { token: s.access_token, body: { password: { current: s.password, new: 'a brand new password' } } });
    expect(changed.status).toBe(200);

    expect(await meStatus(request, other.access_token)).toBe(401);
    expect(await refreshStatus(other.refresh_token)).toBe(401);
    expect(await within(theirs.closed, 5000, 'closing the other session’s WebSocket')).toEqual(REVOKED_WS);
    await revokedOverSse(theirStream);
    theirStream.close();

    expect(await meStatus(request, s.access_token)).toBe(200);
    await sleep(2500);
    expect(mine.ws.readyState).toBe(WebSocket.OPEN);
    expect(await refreshStatus(s.refresh_token)).toBe(200);
    await mine.close();
  });
});

describe('refresh-token reuse', () => {
  it('ends the WebSocket of the session whose refresh token was replayed', async () => {
    const s = await signup('reuse');
    const next = (await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: s.refresh_token } })).body;
    const tab = await openWs(fanout.url, next.access_token);
    expect(await refreshStatus(s.refresh_token)).toBe(401);
    expect(await meStatus(request, next.access_token)).toBe(401);
    expect(await within(tab.closed, 5000, 'closing the WebSocket')).toEqual(REVOKED_WS);
  });
});

describe('tokens without a valid session', () => {
  it('are refused (401) over REST and on the WebSocket and SSE handshakes', async () => {
    const s = await signup('sid');
    const stranger = await signup('stranger');
    const claims = { iss: env.config.JWT_ISSUER, aud: env.config.JWT_AUDIENCE, sub: s.user.id };
    const strangerSid = (jwt.decode(stranger.access_token) as jwt.JwtPayload).sid as string;
    const tokens = {
      'no sid': jwt.sign(claims, TEST_JWT_SECRET, { expiresIn: 60 }),
      'malformed sid': jwt.sign({ ...claims, sid: 'not-a-session' }, TEST_JWT_SECRET, { expiresIn: 60 }),
      'unknown sid': signAccessToken(env.deps.tokens, s.user.id, randomUUID()),
      "another user's sid": signAccessToken(env.deps.tokens, s.user.id, strangerSid),
    };
    for (const [name, token] of Object.entries(tokens)) {
      const me = await request('GET', '/api/v1/me', { token });
      expect(me.status, name).toBe(401);
      expect(me.body.error.code, name).toBe('unauthenticated');
      await expect(openWs(fanout.url, token), name).rejects.toThrow('HTTP 401');
      expect((await client(fanout.url)('GET', '/api/v1/events', { token })).status, name).toBe(401);
    }
    expect(await meStatus(request, s.access_token)).toBe(200);
  });

  it('includes the Bull Board bearer path: an admin logged out is refused', async () => {
    const admin = await signup('admin');
    await env.deps.db('users').where({ id: admin.user.id }).update({ is_admin: true });
    expect((await request('GET', '/admin/queues', { token: admin.access_token })).status).toBe(200);
    expect((await request('POST', '/api/v1/auth/logout', { token: admin.access_token, body: { refresh_token: admin.refresh_token } })).status).toBe(204);
    expect((await request('GET', '/admin/queues', { token: admin.access_token })).status).toBe(401);
  });
});
