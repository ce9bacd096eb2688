import jwt from 'jsonwebtoken';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, startInProcess, TEST_JWT_SECRET, type TestEnv } from '../helpers/env.js';

let env: TestEnv;
let api: Running;
let request: ReturnType<typeof client>;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startInProcess(env, 'api');
  request = client(api.url);
});
afterAll(async () => {
  await api?.stop();
  await env?.close();
});

let n = 0;
const uniqueEmail = (name: string) => `${name}-${++n}-${Date.now()}@example.com`;
async function signup(name = 'ann', password = 'correct horse battery') {
  const email = uniqueEmail(name);
  const res = await request('POST', '/api/v1/auth/signup', { body: { email, password, display_name: name } });
  expect(res.status).toBe(201);
  return { ...res.body, email, password };
}

const validation = { error: { code: 'validation_failed', message: expect.any(String), details: expect.any(Array) } };
const unauthenticated = { error: { code: 'unauthenticated', message: expect.any(String), details: [] } };

describe('signup and login', () => {
  it('signs up with a lower-cased email and returns a token pair', async () => {
    const email = uniqueEmail('Mixed').replace('mixed', 'MiXeD');
    const res = await request('POST', '/api/v1/auth/signup', {
      body: { email: `  ${email.toUpperCase()} `, password: 'password123', display_name: '  Ann  ' },
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      user: {
        id: expect.stringMatching(/^\d+$/),
        email: email.toLowerCase(),
        display_name: 'Ann',
        username: email.split('@')[0].toLowerCase(),
        status: null,
        dnd_until: null,
        created_at: expect.stringMatching(/Z$/),
      },
      access_token: expect.any(String),
      refresh_token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      token_type: 'Bearer',
      expires_in: env.config.TOKEN_EXPIRY_SECONDS,
    });
    expect(res.body.user).not.toHaveProperty('password_hash');
    const me = await request('GET', '/api/v1/me', { token: res.body.access_token });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ user: res.body.user, workspaces: [] });
  });

  it('refuses a second account for the same email, whatever its case (409)', async () => {
    const { email } = await signup('dup');
    const res = await request('POST', '/api/v1/auth/signup', { body: { email: email.toUpperCase(), password: 'password123', display_name: 'Dup' } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('conflict');
  });

  it('logs in case-insensitively', async () => {
    const { email, password, user } = await signup('login');
    const res = await request('POST', '/api/v1/auth/login', { body: { email: email.toUpperCase(), password } });
    expect(res.status).toBe(200);
    expect(res.body.user).toEqual(user);
    expect(res.body.expires_in).toBe(env.config.TOKEN_EXPIRY_SECONDS);
  });

  it('answers unknown email and wrong password identically, in about the same time', async () => {
    const { email } = await signup('timing');
    const time = async (body: unknown) => {
      const started = performance.now();
      const res = await request('POST', '/api/v1/auth/login', { body });
      return { res, ms: performance.now() - started };
    };
    await time({ email: 'warmup@example.com', password: 'whatever1' });
    const wrong: number[] = [];
    const unknown: number[] = [];
    let a, b;
    for (let i = 0; i < 3; i++) {
      a = await time({ email, password: 'wrong password' });
      b = await time({ email: uniqueEmail('nobody'), password: 'wrong password' });
      wrong.push(a.ms);
      unknown.push(b.ms);
    }
    expect(a!.res.status).toBe(401);
    expect(b!.res.status).toBe(401);
    expect(a!.res.body).toEqual(b!.res.body);
    expect(a!.res.body).toEqual(unauthenticated);
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[1];
    // Both paths run one argon2 verification; without the dummy check the unknown path is ~10x faster.
    expect(median(unknown)).toBeGreaterThan(median(wrong) * 0.4);
  });

  it('validates bodies with the error shape', async () => {
    const cases: Array<[unknown, string?]> = [
      [{ email: 'a@example.com', password: 'password123', display_name: 'A', admin: true }],
      [{ email: 'a@example.com', password: 12345678, display_name: 'A' }],
      [{ email: 'a@example.com', password: 'short', display_name: 'A' }],
      [{ email: 'a@example.com', password: 'x'.repeat(257), display_name: 'A' }],
      [{ email: 'not-an-email', password: 'password123', display_name: 'A' }],
      [{ email: `${'a'.repeat(250)}@example.com`, password: 'password123', display_name: 'A' }],
      [{ email: 'a@example.com', password: 'password123', display_name: '   ' }],
      [{ email: 'a@example.com', password: 'password123', display_name: 'x'.repeat(101) }],
      [{ email: 'a@example.com', password: 'password123' }],
    ];
    for (const [body] of cases) {
      const res = await request('POST', '/api/v1/auth/signup', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toEqual(validation);
    }
    const malformed = await request('POST', '/api/v1/auth/signup', { raw: '{"email": ' });
    expect(malformed.status).toBe(400);
    expect(malformed.body).toEqual(validation);
  });
});

describe('access tokens', () => {
  let userId: string;
  let sid: string;
  beforeAll(async () => {
    const session = await signup('tok');
    userId = session.user.id;
    sid = (jwt.decode(session.access_token) as jwt.JwtPayload).sid;
  });
  const me = (token: string) => request('GET', '/api/v1/me', { token });
  const claims = { iss: 'fechatter', aud: 'fechatter-api', sub: '' };

  it('refuses missing, forged, alg-none, expired and wrong-audience tokens (401)', async () => {
    const sub = userId;
    const tokens = {
      forged: jwt.sign({ ...claims, sub, sid }, 'another-secret-that-is-long-enough-0123456789'),
      none: jwt.sign({ ...claims, sub, sid }, '', { algorithm: 'none' }),
      expired: jwt.sign({ ...claims, sub, sid, exp: Math.floor(Date.now() / 1000) - 10 }, TEST_JWT_SECRET),
      audience: jwt.sign({ ...claims, sub, sid, aud: 'someone-else' }, TEST_JWT_SECRET, { expiresIn: 60 }),
      issuer: jwt.sign({ ...claims, sub, sid, iss: 'evil' }, TEST_JWT_SECRET, { expiresIn: 60 }),
      hs512: jwt.sign({ ...claims, sub, sid }, TEST_JWT_SECRET, { algorithm: 'HS512', expiresIn: 60 }),
      garbage: 'not.a.token',
    };
    for (const [name, token] of Object.entries(tokens)) {
      const res = await me(token);
      expect(res.status, name).toBe(401);
      expect(res.body, name).toEqual(unauthenticated);
    }
    expect((await request('GET', '/api/v1/me')).status).toBe(401);
    expect((await request('GET', '/api/v1/me', { headers: { authorization: 'Basic abc' } })).status).toBe(401);
    // The same claims signed properly work: the refusals above are about the token, not the user.
    expect((await me(jwt.sign({ ...claims, sub, sid }, TEST_JWT_SECRET, { expiresIn: 60 }))).status).toBe(200);
  });
});

describe('refresh tokens', () => {
  it('rotates: each refresh token works once and yields a new pair', async () => {
    const session = await signup('rot');
    const first = await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refresh_token } });
    expect(first.status).toBe(200);
    expect(first.body.refresh_token).not.toBe(session.refresh_token);
    expect(first.body.user).toEqual(session.user);
    expect((await request('GET', '/api/v1/me', { token: first.body.access_token })).status).toBe(200);
    const second = await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: first.body.refresh_token } });
    expect(second.status).toBe(200);
  });

  it('re-using a spent token revokes the whole family (401)', async () => {
    const session = await signup('reuse');
    const next = await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refresh_token } });
    expect(next.status).toBe(200);
    const replay = await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refresh_token } });
    expect(replay.status).toBe(401);
    expect(replay.body).toEqual(unauthenticated);
    // The legitimate holder's newer token is revoked with its family.
    const victim = await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: next.body.refresh_token } });
    expect(victim.status).toBe(401);
    const rows = await env.deps.db('refresh_tokens').where({ user_id: session.user.id });
    expect(rows.every((r) => r.revoked_at !== null)).toBe(true);
    // Other sessions (families) are untouched.
    const other = await request('POST', '/api/v1/auth/login', { body: { email: session.email, password: session.password } });
    expect((await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: other.body.refresh_token } })).status).toBe(200);
  });

  it('refuses unknown and expired refresh tokens', async () => {
    expect((await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: 'A'.repeat(43) } })).status).toBe(401);
    const session = await signup('exp');
    await env.deps
      .db('refresh_tokens')
      .where({ user_id: session.user.id })
      .update({ expires_at: new Date(Date.now() - 1000) });
    expect((await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refresh_token } })).status).toBe(401);
  });

  it('logout revokes the session: its refresh and access tokens stop working (204)', async () => {
    const session = await signup('bye');
    const res = await request('POST', '/api/v1/auth/logout', { token: session.access_token, body: { refresh_token: session.refresh_token } });
    expect(res.status).toBe(204);
    expect((await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refresh_token } })).status).toBe(401);
    expect((await request('POST', '/api/v1/auth/logout', { body: { refresh_token: session.refresh_token } })).status).toBe(401);
    const me = await request('GET', '/api/v1/me', { token: session.access_token });
    expect(me.status).toBe(401);
    expect(me.body).toEqual(unauthenticated);
  });

  it('re-using a spent refresh token also ends the access tokens of that session', async () => {
    const session = await signup('stolen');
    const next = await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refresh_token } });
    expect((await request('GET', '/api/v1/me', { token: next.body.access_token })).status).toBe(200);
    expect((await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: session.refresh_token } })).status).toBe(401);
    expect((await request('GET', '/api/v1/me', { token: next.body.access_token })).status).toBe(401);
    expect((await request('GET', '/api/v1/me', { token: session.access_token })).status).toBe(401);
  });

  it("cannot log out someone else's session", async () => {
    const mallory = await signup('mallory');
    const victim = await signup('victim');
    expect((await request('POST', '/api/v1/auth/logout', { token: mallory.access_token, body: { refresh_token: victim.refresh_token } })).status).toBe(204);
    expect((await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: victim.refresh_token } })).status).toBe(200);
  });
});

describe('PATCH /me', () => {
  it('changes the display name', async () => {
    const s = await signup('name');
    const res = await request('PATCH', '/api/v1/me', { token: s.access_token, body: { display_name: 'New Name' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ user: { ...s.user, display_name: 'New Name' } });
    expect((await request('PATCH', '/api/v1/me', { token: s.access_token, body: { email: 'x@example.com' } })).status).toBe(400);
  });

  it('changes the password only with the current one, and signs out every other session', async () => {
    const s = await signup('pw');
    const other = (await request('POST', '/api/v1/auth/login', { body: { email: s.email, password: s.password } })).body;
    const wrong = await request('PATCH', '/api/v1/me', { token: s.access_token, body: { password: { current: 'nope nope', new: 'brand new password' } } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.details[0].field).toBe('password.current');
    const short = await request('PATCH', '/api/v1/me', { token: s.access_token, body: { password: { current: s.password, new: 'short' } } });
    expect(short.status).toBe(400);
    const ok = await request('PATCH', '/api/v1/me', { token: s.access_token, body: { password: { current: s.password, new: 'brand new password' } } });
    expect(ok.status).toBe(200);
    expect((await request('POST', '/api/v1/auth/login', { body: { email: s.email, password: s.password } })).status).toBe(401);
    expect((await request('POST', '/api/v1/auth/login', { body: { email: s.email, password: 'brand new password' } })).status).toBe(200);
    // The other session is over; the one that changed the password goes on.
    expect((await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: other.refresh_token } })).status).toBe(401);
    expect((await request('GET', '/api/v1/me', { token: other.access_token })).status).toBe(401);
    expect((await request('GET', '/api/v1/me', { token: s.access_token })).status).toBe(200);
    expect((await request('POST', '/api/v1/auth/refresh', { body: { refresh_token: s.refresh_token } })).status).toBe(200);
  });
});
