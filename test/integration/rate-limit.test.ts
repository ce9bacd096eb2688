import { afterAll, describe, expect, it } from 'vitest';
import { redisMasters } from '../../src/infra/redis.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';

const opened: Array<{ env: TestEnv; api: Running }> = [];
async function apiWith(limits: Record<string, string>) {
  return (await startApi(limits)).request;
}
async function startApi(limits: Record<string, string>) {
  const env = await createTestEnv(limits);
  const api = await startInProcess(env, 'api');
  opened.push({ env, api });
  return { env, request: client(api.url) };
}
afterAll(async () => {
  for (const { env, api } of opened) {
    await api.stop();
    await env.close();
  }
});

const signupBody = (n: number) => ({ email: `user${n}@example.com`, password: 'long enough password', display_name: `User ${n}` });

describe('rate limits', () => {
  it('takes a large limit from Redis in shared leases: 300 parallel requests spend exactly 300 points', async () => {
    // 8,000 a minute: leases of 20, so 15 round trips to Redis instead of 300, and none wasted
    // by parallel requests each fetching a lease of their own.
    const { env, request } = await startApi({ RATE_LIMIT_IP_PER_MINUTE: '8000' });
    const statuses = await Promise.all(Array.from({ length: 300 }, () => request('GET', '/api/v1/openapi.json').then((r) => r.status)));
    expect(statuses.every((s) => s === 200)).toBe(true);
    // Every master's keys: in cluster mode (TEST_REDIS_CLUSTER) the key may live on any of them.
    const keys = (await Promise.all(redisMasters(env.deps.redis).map((node) => node.keys(`${env.deps.keys.rateLimit}:ip:*`)))).flat();
    expect(keys).toHaveLength(1);
    expect(Number(await env.deps.redis.get(keys[0]))).toBe(300);
  });

  it('limits signups per IP with 429, Retry-After and the error shape', async () => {
    const request = await apiWith({ RATE_LIMIT_AUTH_PER_MINUTE: '3' });
    const statuses = [];
    for (let n = 0; n < 4; n++) statuses.push((await request('POST', '/api/v1/auth/signup', { body: signupBody(n) })).status);
    expect(statuses).toEqual([201, 201, 201, 429]);
    const limited = await request('POST', '/api/v1/auth/login', { body: { email: 'user0@example.com', password: 'long enough password' } });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    const metrics = await request('GET', '/metrics');
    expect(metrics.body).toMatch(/fechatter_rate_limited_total\{limit="auth"\} [1-9]/);
  });

  it('locks an account after repeated failed logins, without touching other accounts', async () => {
    const request = await apiWith({ RATE_LIMIT_LOGIN_FAILURES: '3' });
    await request('POST', '/api/v1/auth/signup', { body: signupBody(1) });
    await request('POST', '/api/v1/auth/signup', { body: signupBody(2) });
    const wrong = { email: 'USER1@example.com', password: 'not the password' };
    const failures = [];
    for (let n = 0; n < 3; n++) failures.push((await request('POST', '/api/v1/auth/login', { body: wrong })).status);
    expect(failures).toEqual([401, 401, 401]);
    const locked = await request('POST', '/api/v1/auth/login', { body: { email: 'user1@example.com', password: 'long enough password' } });
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('rate_limited');
    const other = await request('POST', '/api/v1/auth/login', { body: { email: 'user2@example.com', password: 'long enough password' } });
    expect(other.status).toBe(200);
    // Unknown accounts lock the same way, so the lock does not reveal which emails exist.
    for (let n = 0; n < 3; n++) await request('POST', '/api/v1/auth/login', { body: { email: 'nobody@example.com', password: 'whatever it is' } });
    expect((await request('POST', '/api/v1/auth/login', { body: { email: 'nobody@example.com', password: 'whatever it is' } })).status).toBe(429);
  });

  it('counts login attempts before verifying: parallel wrong passwords cannot pass the lock', async () => {
    const request = await apiWith({ RATE_LIMIT_LOGIN_FAILURES: '5' });
    await request('POST', '/api/v1/auth/signup', { body: signupBody(4) });
    const wrong = { email: 'user4@example.com', password: 'not the password' };
    const statuses = await Promise.all(Array.from({ length: 30 }, () => request('POST', '/api/v1/auth/login', { body: wrong }).then((r) => r.status)));
    // Five guesses were checked; the other 25 were refused before any password was verified.
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25);
    const right = await request('POST', '/api/v1/auth/login', { body: { email: 'user4@example.com', password: 'long enough password' } });
    expect(right.status).toBe(429);
    expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('checks the current password of PATCH /me against the same account lock as login', async () => {
    const request = await apiWith({ RATE_LIMIT_LOGIN_FAILURES: '3' });
    const ann = (await request('POST', '/api/v1/auth/signup', { body: signupBody(5) })).body;
    const change = (token: string, current: string) => request('PATCH', '/api/v1/me', { token, body: { password: { current, new: 'a brand new password' } } });
    const wrong = [];
    for (let i = 0; i < 3; i++) wrong.push((await change(ann.access_token, `wrong guess ${i}`)).status);
    expect(wrong).toEqual([400, 400, 400]);
    // Locked: even the right current password is not checked, and login is locked as well.
    const locked = await change(ann.access_token, 'long enough password');
    expect(locked.status).toBe(429);
    expect(locked.body.error.code).toBe('rate_limited');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await request('POST', '/api/v1/auth/login', { body: { email: 'user5@example.com', password: 'long enough password' } })).status).toBe(429);

    // And the other way round: failed logins lock PATCH /me.
    const bob = (await request('POST', '/api/v1/auth/signup', { body: signupBody(6) })).body;
    for (let i = 0; i < 3; i++) await request('POST', '/api/v1/auth/login', { body: { email: 'user6@example.com', password: `wrong guess ${i}` } });
    expect((await change(bob.access_token, 'long enough password')).status).toBe(429);
  });

  it('resets the failure count after a successful login', async () => {
    const request = await apiWith({ RATE_LIMIT_LOGIN_FAILURES: '3' });
    await request('POST', '/api/v1/auth/signup', { body: signupBody(3) });
    const attempt = (password: string) => request('POST', '/api/v1/auth/login', { body: { email: 'user3@example.com', password } });
    expect((await attempt('wrong password 1')).status).toBe(401);
    expect((await attempt('wrong password 2')).status).toBe(401);
    expect((await attempt('long enough password')).status).toBe(200);
    expect((await attempt('wrong password 3')).status).toBe(401);
    expect((await attempt('wrong password 4')).status).toBe(401);
    expect((await attempt('long enough password')).status).toBe(200);
  });
});
