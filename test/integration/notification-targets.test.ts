// Push subscriptions and webhooks over HTTP with the outbound guard ON (the default): loopback
// and private targets are refused at registration; workspace webhooks are for admins.
import { createECDH, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vapidKeys } from '../../src/domain/notifications/vapid.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

let env: TestEnv;
let api: Running;
let request: ReturnType<typeof client>;
let dataDir: string;
let owner: FixtureUser, admin: FixtureUser, member: FixtureUser, guest: FixtureUser, stranger: FixtureUser;
let wid: string;

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-targets-'));
  env = await createTestEnv({ DATA_DIR: dataDir, WORKER_QUEUES: 'persist' });
  api = await startInProcess(env, 'api');
  request = client(api.url);
  [owner, admin, member, guest, stranger] = await Promise.all(['Owner', 'Admin', 'Member', 'Guest', 'Stranger'].map((n) => fixtureUser(env.deps, n)));
  wid = await fixtureWorkspace(env.deps, owner, [
    [admin, 'admin'],
    [member, 'member'],
    [guest, 'guest'],
  ]);
  await fixtureWorkspace(env.deps, stranger);
});
afterAll(async () => {
  await api?.stop();
  await env?.close();
});

// A public address literal: accepted by the guard without DNS (nothing is sent to it here).
const PUBLIC = 'https://93.184.216.34';

describe('the outbound guard at registration (OUTBOUND_ALLOW_PRIVATE_ADDRESSES=false)', () => {
  it.each([
    'http://127.0.0.1/hook',
    'http://127.0.0.1:8080/hook',
    'http://localhost:6379/',
    'http://[::1]/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://10.0.0.8/hook',
    'http://192.168.1.1/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://100.64.0.1/hook',
    'http://[fd00::1]/hook',
    'http://0.0.0.0/hook',
  ])('POST /me/webhooks %s is 400', async (url) => {
    const res = await request('POST', '/api/v1/me/webhooks', { token: member.token, body: { url } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'url', code: 'outbound_refused' })]);
  });

  it.each(['ftp://93.184.216.34/x', 'not a url', 'javascript:alert(1)'])('POST /me/webhooks %s is 400', async (url) => {
    const res = await request('POST', '/api/v1/me/webhooks', { token: member.token, body: { url } });
    expect(res.status).toBe(400);
  });

  it('refuses a loopback push endpoint too', async () => {
    const res = await request('POST', '/api/v1/me/push-subscriptions', {
      token: member.token,
      body: { endpoint: 'http://127.0.0.1:9/push', keys: browserKeys() },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'endpoint', code: 'outbound_refused' })]);
  });

  it('nothing refused was stored', async () => {
    expect(await env.deps.db('webhooks').count({ n: '*' }).first()).toEqual({ n: '0' });
  });
});

describe('/me/webhooks', () => {
  it('creates (secret shown once), lists without the secret, deletes only mine', async () => {
    const created = await request('POST', '/api/v1/me/webhooks', { token: member.token, body: { url: `${PUBLIC}/hooks/member` } });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      id: expect.any(String),
      url: `${PUBLIC}/hooks/member`,
      secret: expect.stringMatching(/^whsec_[\w-]{40,}$/),
      created_at: expect.any(String),
    });
    const list = await request('GET', '/api/v1/me/webhooks', { token: member.token });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ items: [{ id: created.body.id, url: `${PUBLIC}/hooks/member`, created_at: created.body.created_at }] });
    expect((await request('GET', '/api/v1/me/webhooks', { token: admin.token })).body.items).toEqual([]);

    expect((await request('DELETE', `/api/v1/me/webhooks/${created.body.id}`, { token: admin.token })).status).toBe(404);
    expect((await request('DELETE', `/api/v1/me/webhooks/${created.body.id}`, { token: member.token })).status).toBe(204);
    expect((await request('DELETE', `/api/v1/me/webhooks/${created.body.id}`, { token: member.token })).status).toBe(404);
    expect((await request('GET', '/api/v1/me/webhooks', { token: member.token })).body.items).toEqual([]);
  });

  it('needs a token', async () => {
    expect((await request('GET', '/api/v1/me/webhooks')).status).toBe(401);
  });
});

describe('/workspaces/:wid/webhooks (admin+)', () => {
  it('owner and admins manage them; members and guests 403; strangers 404', async () => {
    const created = await request('POST', `/api/v1/workspaces/${wid}/webhooks`, { token: admin.token, body: { url: `${PUBLIC}/hooks/ws` } });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_/);
    const listed = await request('GET', `/api/v1/workspaces/${wid}/webhooks`, { token: owner.token });
    expect(listed.body.items).toEqual([{ id: created.body.id, url: `${PUBLIC}/hooks/ws`, created_at: created.body.created_at }]);

    for (const [user, status] of [
      [member, 403],
      [guest, 403],
      [stranger, 404],
    ] as const) {
      expect((await request('POST', `/api/v1/workspaces/${wid}/webhooks`, { token: user.token, body: { url: `${PUBLIC}/x` } })).status).toBe(status);
      expect((await request('GET', `/api/v1/workspaces/${wid}/webhooks`, { token: user.token })).status).toBe(status);
      expect((await request('DELETE', `/api/v1/workspaces/${wid}/webhooks/${created.body.id}`, { token: user.token })).status).toBe(status);
    }
    // A workspace webhook is not a user's webhook, and the other way round.
    expect((await request('DELETE', `/api/v1/me/webhooks/${created.body.id}`, { token: admin.token })).status).toBe(404);
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/webhooks/${created.body.id}`, { token: owner.token })).status).toBe(204);
    expect((await request('GET', `/api/v1/workspaces/${wid}/webhooks`, { token: owner.token })).body.items).toEqual([]);
  });

  it('an unknown workspace is 404', async () => {
    expect((await request('GET', '/api/v1/workspaces/999999/webhooks', { token: owner.token })).status).toBe(404);
  });
});

function browserKeys() {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') };
}

describe('/me/push-subscriptions', () => {
  it('registers; the same endpoint again moves it to the caller (200); delete only mine', async () => {
    const endpoint = `${PUBLIC}/push/${randomBytes(8).toString('hex')}`;
    const first = await request('POST', '/api/v1/me/push-subscriptions', { token: member.token, body: { endpoint, keys: browserKeys() } });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ id: expect.any(String), endpoint, created_at: expect.any(String) });
    const again = await request('POST', '/api/v1/me/push-subscriptions', { token: admin.token, body: { endpoint, keys: browserKeys() } });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect((await request('GET', '/api/v1/me/push-subscriptions', { token: member.token })).body.items).toEqual([]);
    expect((await request('GET', '/api/v1/me/push-subscriptions', { token: admin.token })).body.items).toEqual([first.body]);

    expect((await request('DELETE', `/api/v1/me/push-subscriptions/${first.body.id}`, { token: member.token })).status).toBe(404);
    expect((await request('DELETE', `/api/v1/me/push-subscriptions/${first.body.id}`, { token: admin.token })).status).toBe(204);
    expect((await request('GET', '/api/v1/me/push-subscriptions', { token: admin.token })).body.items).toEqual([]);
  });

  it.each([
    ['a short p256dh', { p256dh: randomBytes(32).toString('base64url'), auth: randomBytes(16).toString('base64url') }],
    ['a short auth secret', { p256dh: browserKeys().p256dh, auth: randomBytes(8).toString('base64url') }],
    ['no keys', undefined],
  ])('refuses %s (400)', async (_what, keys) => {
    const res = await request('POST', '/api/v1/me/push-subscriptions', { token: member.token, body: { endpoint: `${PUBLIC}/push/x`, keys } });
    expect(res.status).toBe(400);
  });
});

describe('VAPID', () => {
  it('serves the public key generated into DATA_DIR/vapid.json', async () => {
    const res = await request('GET', '/api/v1/push/vapid-public-key', { token: member.token });
    expect(res.status).toBe(200);
    const file = JSON.parse(readFileSync(path.join(dataDir, 'vapid.json'), 'utf8'));
    expect(res.body).toEqual({ public_key: file.publicKey });
    expect((await request('GET', '/api/v1/push/vapid-public-key')).status).toBe(401);
  });

  it('configured keys win; production without them has push off', () => {
    const base = { DATA_DIR: dataDir, VAPID_SUBJECT: 'mailto:ops@example.com' };
    expect(vapidKeys({ ...base, NODE_ENV: 'production', VAPID_PUBLIC_KEY: undefined, VAPID_PRIVATE_KEY: undefined })).toBeNull();
    expect(vapidKeys({ ...base, NODE_ENV: 'production', VAPID_PUBLIC_KEY: 'pub', VAPID_PRIVATE_KEY: 'priv' })).toEqual({
      publicKey: 'pub',
      privateKey: 'priv',
      subject: 'mailto:ops@example.com',
    });
  });
});
