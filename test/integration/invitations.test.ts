import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

let env: TestEnv;
let api: Running;
let request: ReturnType<typeof client>;
let owner: FixtureUser;
let admin: FixtureUser;
let wid: string;

beforeAll(async () => {
  env = await createTestEnv();
  api = await startInProcess(env, 'api');
  request = client(api.url);
  owner = await fixtureUser(env.deps, 'Owner');
  admin = await fixtureUser(env.deps, 'Admin');
  wid = await fixtureWorkspace(env.deps, owner, [[admin, 'admin']]);
});
afterAll(async () => {
  await api?.stop();
  await env?.close();
});

const user = (name: string) => fixtureUser(env.deps, name);
async function invite(body: Record<string, unknown> = { role: 'member' }, as = admin) {
  const res = await request('POST', `/api/v1/workspaces/${wid}/invitations`, { token: as.token, body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; token: string; role: string; expires_at: string; max_uses: number | null; uses: number };
}
const preview = (token: string) => request('GET', `/api/v1/invitations/${token}`);
const accept = (token: string, as: FixtureUser) => request('POST', `/api/v1/invitations/${token}/accept`, { token: as.token });
const notFound = { error: { code: 'not_found', message: expect.any(String), details: [] } };

describe('invitations', () => {
  it('creates, previews without login, and accepts', async () => {
    const before = Date.now();
    const inv = await invite({ role: 'guest' });
    expect(inv).toMatchObject({
      id: expect.stringMatching(/^\d+$/),
      token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      role: 'guest',
      max_uses: null,
      uses: 0,
    });
    const ttl = Date.parse(inv.expires_at) - before;
    expect(ttl).toBeGreaterThan(7 * 86400_000 - 60_000);
    expect(ttl).toBeLessThan(7 * 86400_000 + 60_000);
    // Only the hash is stored.
    const row = await env.deps.db('invitations').where({ id: inv.id }).first();
    expect(JSON.stringify(row)).not.toContain(inv.token);

    const p = await preview(inv.token);
    expect(p.status).toBe(200);
    expect(p.body).toEqual({ workspace: { id: wid, name: expect.any(String) }, role: 'guest', expires_at: inv.expires_at });

    const joiner = await user('Joiner');
    // Warm a "not a member" cache entry: accepting must invalidate it.
    expect((await request('GET', `/api/v1/workspaces/${wid}`, { token: joiner.token })).status).toBe(404);
    const res = await accept(inv.token, joiner);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ workspace: { id: wid, name: expect.any(String), slug: expect.any(String) }, role: 'guest' });
    expect((await request('GET', `/api/v1/workspaces/${wid}`, { token: joiner.token })).body.role).toBe('guest');

    // Accepting twice is a no-op that uses nothing, even though single use is now used up.
    const again = await accept(inv.token, joiner);
    expect(again.status).toBe(200);
    expect(again.body.role).toBe('guest');
    expect((await env.deps.db('invitations').where({ id: inv.id }).first()).uses).toBe(1);
    // Used up for everyone else.
    expect((await preview(inv.token)).status).toBe(404);
    expect((await accept(inv.token, await user('Late'))).body).toEqual(notFound);
  });

  it('members accepting keep their role and use nothing', async () => {
    const inv = await invite({ role: 'guest' });
    const res = await accept(inv.token, admin);
    expect(res.status).toBe(200);
    expect(res.body.role).toBe('admin');
    expect((await env.deps.db('invitations').where({ id: inv.id }).first()).uses).toBe(0);
  });

  it('honours max_uses, also under concurrent accepts', async () => {
    const inv = await invite({ role: 'member', max_uses: 3 });
    expect(inv.max_uses).toBe(3);
    const joiners = await Promise.all(Array.from({ length: 8 }, (_, i) => user(`Racer${i}`)));
    const answers = await Promise.all(joiners.map((j) => accept(inv.token, j)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(3);
    expect(answers.filter((a) => a.status === 404)).toHaveLength(5);
    expect((await env.deps.db('invitations').where({ id: inv.id }).first()).uses).toBe(3);
    const joined = await env.deps
      .db('workspace_members')
      .where({ workspace_id: wid })
      .whereIn(
        'user_id',
        joiners.map((j) => j.id),
      );
    expect(joined).toHaveLength(3);
  });

  it('expired invitations are gone', async () => {
    const inv = await invite();
    await env.deps
      .db('invitations')
      .where({ id: inv.id })
      .update({ expires_at: new Date(Date.now() - 1000) });
    expect((await preview(inv.token)).body).toEqual(notFound);
    expect((await accept(inv.token, await user('TooLate'))).status).toBe(404);
  });

  it('revoked invitations are gone; the list shows them without tokens', async () => {
    const inv = await invite();
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/invitations/${inv.id}`, { token: admin.token })).status).toBe(204);
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/invitations/${inv.id}`, { token: admin.token })).status).toBe(204);
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/invitations/99999`, { token: admin.token })).status).toBe(404);
    expect((await preview(inv.token)).status).toBe(404);
    expect((await accept(inv.token, await user('Nope'))).status).toBe(404);
    const list = await request('GET', `/api/v1/workspaces/${wid}/invitations`, { token: admin.token });
    expect(list.status).toBe(200);
    const listed = list.body.items.find((i: { id: string }) => i.id === inv.id);
    expect(listed).toMatchObject({ id: inv.id, role: 'member', revoked_at: expect.any(String), uses: 0 });
    expect(list.body.items.every((i: object) => !('token' in i) && !('token_hash' in i))).toBe(true);
  });

  it('another workspace cannot revoke or see them', async () => {
    const inv = await invite();
    const other = await user('Other');
    const otherWs = await fixtureWorkspace(env.deps, other);
    expect((await request('DELETE', `/api/v1/workspaces/${otherWs}/invitations/${inv.id}`, { token: other.token })).status).toBe(404);
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/invitations/${inv.id}`, { token: other.token })).status).toBe(404);
    expect((await preview(inv.token)).status).toBe(200);
  });

  it('an email-bound invitation only works for that user (case-insensitive)', async () => {
    const bound = await user('Bound');
    const inv = await invite({ role: 'member', email: bound.email.toUpperCase() });
    expect((await accept(inv.token, await user('Thief'))).body).toEqual(notFound);
    const res = await accept(inv.token, bound);
    expect(res.status).toBe(200);
    expect(res.body.role).toBe('member');
  });

  it('only owners invite admins', async () => {
    expect((await request('POST', `/api/v1/workspaces/${wid}/invitations`, { token: admin.token, body: { role: 'admin' } })).status).toBe(403);
    const inv = await invite({ role: 'admin' }, owner);
    const newAdmin = await user('NewAdmin');
    expect((await accept(inv.token, newAdmin)).body.role).toBe('admin');
  });

  it('validates', async () => {
    const bad = [
      { role: 'owner' },
      { role: 'member', expires_in_seconds: 31 * 86400 },
      { role: 'member', expires_in_seconds: 1.5 },
      { role: 'member', max_uses: 0 },
      { role: 'member', email: 'nope' },
      { role: 'member', token: 'mine' },
      {},
    ];
    for (const body of bad) {
      const res = await request('POST', `/api/v1/workspaces/${wid}/invitations`, { token: admin.token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }
    const custom = await invite({ role: 'member', expires_in_seconds: 3600 });
    expect(Math.abs(Date.parse(custom.expires_at) - Date.now() - 3600_000)).toBeLessThan(60_000);
    expect((await preview('short')).status).toBe(404);
    expect((await preview('A'.repeat(43))).status).toBe(404);
    expect((await request('POST', `/api/v1/invitations/${custom.token}/accept`)).status).toBe(401);
  });
});
