// The HTTP edge: the client IP (TRUST_PROXY) behind the per-IP limits, and one error shape for
// every error, including those Koa, the router and Node's own HTTP parser raise.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import helmet from 'helmet';
import Koa from 'koa';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { requestContext } from '../../src/api/middleware.js';
import { HELMET } from '../../src/api/security.js';
import { createLogger } from '../../src/observability/logger.js';
import type { Role, Running } from '../../src/roles.js';
import { client, createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';

const opened: Array<{ env: TestEnv; running: Running }> = [];
async function start(vars: Record<string, string> = {}, role: Exclude<Role, 'migrate'> = 'api') {
  const env = await createTestEnv(vars);
  const running = await startInProcess(env, role);
  opened.push({ env, running });
  return { env, url: running.url, request: client(running.url) };
}
afterAll(async () => {
  for (const { env, running } of opened) {
    await running.stop();
    await env.close();
  }
});

const errorShape = (code: string) => ({ error: { code, message: expect.any(String), details: expect.any(Array) } });
/** Logins of accounts that do not exist: each is a plain 401, so only the per-IP limit can say 429. */
const login = (request: ReturnType<typeof client>, n: number, forwardedFor: string) =>
  request('POST', '/api/v1/auth/login', {
    body: { email: `nobody${n}@example.com`, password: 'whatever it is' },
    headers: { 'x-forwarded-for': forwardedFor },
  });

describe('client IP (TRUST_PROXY)', () => {
  it('ignores X-Forwarded-For by default: 100 logins with 100 forged addresses hit the per-IP limit', async () => {
    const { request } = await start({ RATE_LIMIT_AUTH_PER_MINUTE: '5' });
    const statuses: number[] = [];
    for (let n = 0; n < 100; n++) statuses.push((await login(request, n, `198.51.100.${n}`)).status);
    expect(statuses.slice(0, 5)).toEqual(Array(5).fill(401));
    expect(statuses.slice(5)).toEqual(Array(95).fill(429));
  }, 60_000);

  it('with TRUST_PROXY=1, the address the proxy appended is the client IP (and forged entries before it are not)', async () => {
    const { request } = await start({ RATE_LIMIT_AUTH_PER_MINUTE: '5', TRUST_PROXY: '1' });
    const distinct: number[] = [];
    for (let n = 0; n < 10; n++) distinct.push((await login(request, n, `198.51.100.${n}`)).status);
    expect(distinct).toEqual(Array(10).fill(401));
    // One client behind the proxy, whatever it puts in front of the proxy's entry.
    const same: number[] = [];
    for (let n = 0; n < 6; n++) same.push((await login(request, 100 + n, `10.9.9.${n}, 203.0.113.7`)).status);
    expect(same).toEqual([401, 401, 401, 401, 401, 429]);
  }, 60_000);

  it('with a list of proxy addresses, only a peer on the list is believed', async () => {
    const statuses = async (trust: string) => {
      const { request } = await start({ RATE_LIMIT_AUTH_PER_MINUTE: '3', TRUST_PROXY: trust });
      const seen: number[] = [];
      for (let n = 0; n < 6; n++) seen.push((await login(request, n, `198.51.100.${n}`)).status);
      return seen;
    };
    // The test client connects from 127.0.0.1: a proxy on this machine, or a client that is no proxy.
    expect(await statuses('loopback')).toEqual(Array(6).fill(401));
    expect(await statuses('10.0.0.0/8, 192.168.0.1')).toEqual([401, 401, 401, 429, 429, 429]);
  }, 60_000);

  it('refuses a value that would trust everyone', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), TRUST_PROXY: 'true' })).toThrow(ConfigError);
    expect(loadConfig({ NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32), TRUST_PROXY: '127.0.0.1, 10.0.0.0/8' }).TRUST_PROXY).toEqual(['127.0.0.1', '10.0.0.0/8']);
  });
});

describe('security headers', () => {
  it("sets helmet's headers, exactly as helmet itself would, on API answers, errors and the web chat", async () => {
    const { url, request } = await start();
    // What helmet's own middleware sets on a real response, with the options the server uses.
    const reference = http.createServer((req, res) => helmet(HELMET)(req, res, () => res.end()));
    await new Promise<void>((resolve) => reference.listen(0, '127.0.0.1', resolve));
    const expected = await fetch(`http://127.0.0.1:${(reference.address() as AddressInfo).port}/`);
    reference.close();
    const names = [...expected.headers.keys()].filter((h) => !['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(h));
    expect(names).toEqual(expect.arrayContaining(['content-security-policy', 'x-content-type-options', 'x-frame-options', 'strict-transport-security']));
    for (const res of [await request('GET', '/health/live'), await request('GET', '/api/v1/me'), await fetch(`${url}/`)])
      for (const name of names) expect([name, res.headers.get(name)]).toEqual([name, expected.headers.get(name)]);
  });
});

describe('CORS (CORS_ORIGINS)', () => {
  const preflight = (url: string, origin: string) =>
    fetch(`${url}/api/v1/me`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'authorization' },
    });

  it('answers a listed origin, and only it, with CORS headers', async () => {
    const { url } = await start({ CORS_ORIGINS: 'https://chat.example' });
    const listed = await preflight(url, 'https://chat.example');
    expect(listed.status).toBe(204);
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://chat.example');
    expect(listed.headers.get('access-control-allow-methods')).toContain('PATCH');
    expect(listed.headers.get('access-control-allow-headers')).toContain('Authorization');
    const get = await fetch(`${url}/health/live`, { headers: { origin: 'https://chat.example' } });
    expect(get.headers.get('access-control-allow-origin')).toBe('https://chat.example');
    expect(get.headers.get('access-control-expose-headers')).toContain('X-Request-Id');
    expect(get.headers.get('vary')).toContain('Origin');
    const other = await preflight(url, 'https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('is same-origin only by default: no CORS headers for any origin', async () => {
    const { url } = await start();
    const res = await preflight(url, 'https://chat.example');
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const get = await fetch(`${url}/health/live`, { headers: { origin: 'https://chat.example' } });
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('one error shape for every error', () => {
  it("answers the router's 405 and 501 in the error shape, keeping Allow", async () => {
    const { request } = await start();
    const put = await request('PUT', '/api/v1/me', { body: {} });
    expect(put.status).toBe(405);
    expect(put.body).toEqual(errorShape('method_not_allowed'));
    expect(put.headers.get('allow')).toMatch(/GET/);
    expect(put.headers.get('allow')).toMatch(/PATCH/);
    const propfind = await request('PROPFIND', '/api/v1/me');
    expect(propfind.status).toBe(501);
    expect(propfind.body).toEqual(errorShape('not_implemented'));
    // Allow lists every method of the path.
    const messages = await request('PUT', '/api/v1/chats/1/messages', { body: {} });
    expect(messages.status).toBe(405);
    expect(messages.headers.get('allow')?.split(/,\s*/).sort()).toEqual(['GET', 'HEAD', 'POST']);
    // As @koa/router has it, paths match whatever their case.
    expect((await request('GET', '/API/V1/Me')).body).toEqual(errorShape('unauthenticated'));
    expect((await request('GET', '/api/v1/nothing-here')).body).toEqual(errorShape('not_found'));
  });

  it('answers a body that is not declared as JSON with 415', async () => {
    const { request } = await start();
    const res = await request('POST', '/api/v1/auth/login', {
      raw: JSON.stringify({ email: 'a@example.com', password: 'whatever it is' }),
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(415);
    expect(res.body).toEqual(errorShape('unsupported_media_type'));
  });

  it("answers what Node's HTTP parser refuses (URI or headers too large) in the error shape, on the API and the fanout", async () => {
    for (const role of ['api', 'fanout'] as const) {
      const { request } = await start({}, role);
      const longUri = await request('GET', `/api/v1/chats?q=${'a'.repeat(20_000)}`);
      expect(longUri.status).toBe(414);
      expect(longUri.body).toEqual(errorShape('uri_too_long'));
      const bigHeaders = await request('GET', '/health/live', { headers: { 'x-padding': 'b'.repeat(20_000) } });
      expect(bigHeaders.status).toBe(431);
      expect(bigHeaders.headers.get('content-type')).toMatch(/application\/json/);
      expect(bigHeaders.body).toEqual(errorShape('headers_too_large'));
      const unknown = await request('GET', '/no-such-page.txt');
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual(errorShape('not_found'));
    }
  });

  it("maps errors thrown with a status (Koa's ctx.throw, http-errors) by status, and shows a message only when expose allows", async () => {
    const app = new Koa();
    app.use(requestContext(createLogger('silent')));
    app.use((ctx) => {
      if (ctx.path === '/bad') ctx.throw(400, 'The widget is bent.');
      if (ctx.path === '/teapot') ctx.throw(418, 'Short and stout.');
      if (ctx.path === '/allow') ctx.throw(405, { headers: { Allow: 'GET' } });
      if (ctx.path === '/upstream') ctx.throw(502, 'upstream 10.0.0.7:5432 said: password authentication failed for user "fechatter"');
      if (ctx.path === '/expose') ctx.throw(503, 'Maintenance until noon.', { expose: true });
      throw Object.assign(new TypeError('cannot read secret_column of undefined'), { status: 500 });
    });
    const server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const request = client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      const bad = await request('GET', '/bad');
      expect([bad.status, bad.body]).toEqual([400, { error: { code: 'validation_failed', message: 'The widget is bent.', details: [] } }]);
      const teapot = await request('GET', '/teapot');
      expect([teapot.status, teapot.body.error.code, teapot.body.error.message]).toEqual([418, 'bad_request', 'Short and stout.']);
      const allow = await request('GET', '/allow');
      expect([allow.status, allow.body.error.code, allow.headers.get('allow')]).toEqual([405, 'method_not_allowed', 'GET']);
      // expose=false (every 5xx by default): the client never sees the error's own text.
      const upstream = await request('GET', '/upstream');
      expect(upstream.status).toBe(502);
      expect(upstream.body.error.code).toBe('internal');
      expect(JSON.stringify(upstream.body)).not.toMatch(/password|10\.0\.0\.7|fechatter/);
      const crash = await request('GET', '/crash');
      expect([crash.status, crash.body]).toEqual([500, { error: { code: 'internal', message: 'Internal server error.', details: [] } }]);
      const exposed = await request('GET', '/expose');
      expect([exposed.status, exposed.body.error.code, exposed.body.error.message]).toEqual([503, 'unavailable', 'Maintenance until noon.']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('documents every error code in the OpenAPI error schema', async () => {
    const { request } = await start();
    const doc = await request('GET', '/api/v1/openapi.json');
    const login = doc.body.paths['/api/v1/auth/login'].post.responses;
    expect(login['415']).toBeDefined();
    const codes = login['400'].content['application/json'].schema.properties.error.properties.code.enum;
    expect(codes).toEqual(
      expect.arrayContaining(['method_not_allowed', 'unsupported_media_type', 'uri_too_long', 'headers_too_large', 'not_implemented', 'unavailable']),
    );
  });
});
