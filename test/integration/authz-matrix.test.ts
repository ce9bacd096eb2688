// Every route of auth/workspaces/invitations/chats x every kind of caller, with the exact status.
// Mutating cases build fresh state per caller, so each cell is independent of the others.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

let env: TestEnv;
let api: Running;
let request: ReturnType<typeof client>;

const ACTORS = ['owner', 'admin', 'member', 'guest', 'stranger', 'anon'] as const;
type Actor = (typeof ACTORS)[number];
let users: Record<Exclude<Actor, 'anon'>, FixtureUser>;
let wid: string;
let privateChat: string; // created by `member`; all four roles are in it
let publicChat: string; // created by `owner`; only the owner is in it

beforeAll(async () => {
  env = await createTestEnv();
  api = await startInProcess(env, 'api');
  request = client(api.url);
  const d = env.deps;
  users = {
    owner: await fixtureUser(d, 'Owner'),
    admin: await fixtureUser(d, 'Admin'),
    member: await fixtureUser(d, 'Member'),
    guest: await fixtureUser(d, 'Guest'),
    stranger: await fixtureUser(d, 'Stranger'),
  };
  wid = await fixtureWorkspace(d, users.owner, [
    [users.admin, 'admin'],
    [users.member, 'member'],
    [users.guest, 'guest'],
  ]);
  const other = await fixtureWorkspace(d, users.stranger);
  await fixtureChat(d, other, users.stranger, [], 'public', 'elsewhere');
  privateChat = await fixtureChat(d, wid, users.member, [users.owner, users.admin, users.guest], 'private', 'team');
  publicChat = await fixtureChat(d, wid, users.owner, [], 'public', 'lobby');
});
afterAll(async () => {
  await api?.stop();
  await env?.close();
});

const tokenOf = (actor: Actor) => (actor === 'anon' ? undefined : users[actor].token);

async function freshMember(role: 'member' | 'guest' = 'member'): Promise<FixtureUser> {
  const user = await fixtureUser(env.deps, 'Fresh');
  await env.deps.db('workspace_members').insert({ workspace_id: wid, user_id: user.id, role });
  return user;
}
async function freshInvitation(): Promise<{ id: string; token: string }> {
  const res = await request('POST', `/api/v1/workspaces/${wid}/invitations`, { token: users.owner.token, body: { role: 'member', max_uses: 100 } });
  expect(res.status).toBe(201);
  return res.body;
}
const freshTeamChat = () => fixtureChat(env.deps, wid, users.member, [users.owner, users.admin, users.guest], 'private', 'fresh');

interface Case {
  name: string;
  expect: Record<Actor, number>;
  /** Builds the request for one caller (fresh state where the call changes something). */
  call: (actor: Actor) => Promise<{ method: string; path: string; body?: unknown; token?: string }>;
}
const s = (owner: number, admin: number, member: number, guest: number, stranger: number, anon = 401) => ({ owner, admin, member, guest, stranger, anon });

const cases: Case[] = [
  { name: 'GET /me', expect: s(200, 200, 200, 200, 200), call: async () => ({ method: 'GET', path: '/me' }) },
  { name: 'PATCH /me', expect: s(200, 200, 200, 200, 200), call: async () => ({ method: 'PATCH', path: '/me', body: {} }) },
  {
    name: 'POST /auth/logout',
    expect: s(204, 204, 204, 204, 204),
    call: async () => ({ method: 'POST', path: '/auth/logout', body: { refresh_token: 'unknown' } }),
  },
  { name: 'POST /workspaces', expect: s(201, 201, 201, 201, 201), call: async () => ({ method: 'POST', path: '/workspaces', body: { name: 'Matrix' } }) },
  { name: 'GET /workspaces', expect: s(200, 200, 200, 200, 200), call: async () => ({ method: 'GET', path: '/workspaces' }) },
  { name: 'GET /workspaces/:wid', expect: s(200, 200, 200, 200, 404), call: async () => ({ method: 'GET', path: `/workspaces/${wid}` }) },
  {
    name: 'PATCH /workspaces/:wid',
    expect: s(200, 200, 403, 403, 404),
    call: async () => ({ method: 'PATCH', path: `/workspaces/${wid}`, body: { name: 'Renamed' } }),
  },
  { name: 'GET /workspaces/:wid/members', expect: s(200, 200, 200, 200, 404), call: async () => ({ method: 'GET', path: `/workspaces/${wid}/members` }) },
  {
    name: 'PATCH /workspaces/:wid/members/:uid',
    expect: s(200, 200, 403, 403, 404),
    call: async () => ({ method: 'PATCH', path: `/workspaces/${wid}/members/${(await freshMember()).id}`, body: { role: 'guest' } }),
  },
  {
    name: 'PATCH /workspaces/:wid/members/:uid (grant admin)',
    expect: s(200, 403, 403, 403, 404),
    call: async () => ({ method: 'PATCH', path: `/workspaces/${wid}/members/${(await freshMember()).id}`, body: { role: 'admin' } }),
  },
  {
    name: 'DELETE /workspaces/:wid/members/:uid',
    expect: s(204, 204, 403, 403, 404),
    call: async () => ({ method: 'DELETE', path: `/workspaces/${wid}/members/${(await freshMember()).id}` }),
  },
  {
    name: 'POST /workspaces/:wid/invitations',
    expect: s(201, 201, 403, 403, 404),
    call: async () => ({ method: 'POST', path: `/workspaces/${wid}/invitations`, body: { role: 'member' } }),
  },
  {
    name: 'POST /workspaces/:wid/invitations (admin role)',
    expect: s(201, 403, 403, 403, 404),
    call: async () => ({ method: 'POST', path: `/workspaces/${wid}/invitations`, body: { role: 'admin' } }),
  },
  {
    name: 'GET /workspaces/:wid/invitations',
    expect: s(200, 200, 403, 403, 404),
    call: async () => ({ method: 'GET', path: `/workspaces/${wid}/invitations` }),
  },
  {
    name: 'DELETE /workspaces/:wid/invitations/:id',
    expect: s(204, 204, 403, 403, 404),
    call: async () => ({ method: 'DELETE', path: `/workspaces/${wid}/invitations/${(await freshInvitation()).id}` }),
  },
  {
    name: 'GET /invitations/:token',
    expect: s(200, 200, 200, 200, 200, 200),
    call: async () => ({ method: 'GET', path: `/invitations/${(await freshInvitation()).token}` }),
  },
  {
    // Members accepting get a no-op 200; an outsider joins (that is what an invitation is for).
    // A throw-away outsider, so the shared stranger stays a stranger for the other cases.
    name: 'POST /invitations/:token/accept',
    expect: s(200, 200, 200, 200, 200),
    call: async (actor) => ({
      method: 'POST',
      path: `/invitations/${(await freshInvitation()).token}/accept`,
      ...(actor === 'stranger' ? { token: (await fixtureUser(env.deps, 'Outsider')).token } : {}),
    }),
  },
  {
    name: 'POST /workspaces/:wid/chats',
    expect: s(201, 201, 201, 403, 404),
    call: async () => ({ method: 'POST', path: `/workspaces/${wid}/chats`, body: { type: 'private', name: 'new' } }),
  },
  { name: 'GET /workspaces/:wid/chats', expect: s(200, 200, 200, 200, 404), call: async () => ({ method: 'GET', path: `/workspaces/${wid}/chats` }) },
  {
    name: 'GET /workspaces/:wid/chats?browse=public',
    expect: s(200, 200, 200, 403, 404),
    call: async () => ({ method: 'GET', path: `/workspaces/${wid}/chats?browse=public` }),
  },
  { name: 'GET /chats/:cid (private)', expect: s(200, 200, 200, 200, 404), call: async () => ({ method: 'GET', path: `/chats/${privateChat}` }) },
  { name: 'GET /chats/:cid (public, not joined)', expect: s(200, 200, 200, 404, 404), call: async () => ({ method: 'GET', path: `/chats/${publicChat}` }) },
  {
    name: 'PATCH /chats/:cid',
    expect: s(200, 200, 200, 403, 404),
    call: async () => ({ method: 'PATCH', path: `/chats/${privateChat}`, body: { topic: 'x' } }),
  },
  { name: 'DELETE /chats/:cid', expect: s(204, 204, 204, 403, 404), call: async () => ({ method: 'DELETE', path: `/chats/${await freshTeamChat()}` }) },
  { name: 'GET /chats/:cid/members', expect: s(200, 200, 200, 200, 404), call: async () => ({ method: 'GET', path: `/chats/${privateChat}/members` }) },
  {
    name: 'POST /chats/:cid/members',
    expect: s(200, 200, 200, 403, 404),
    call: async () => ({ method: 'POST', path: `/chats/${privateChat}/members`, body: { user_ids: [(await freshMember()).id] } }),
  },
  {
    name: 'DELETE /chats/:cid/members/:uid (someone else)',
    expect: s(204, 204, 204, 403, 404),
    call: async () => {
      const target = await freshMember();
      const chat = await fixtureChat(env.deps, wid, users.member, [users.owner, users.admin, users.guest, target], 'private', 'rm');
      return { method: 'DELETE', path: `/chats/${chat}/members/${target.id}` };
    },
  },
  {
    name: 'DELETE /chats/:cid/members/:uid (self)',
    expect: s(204, 204, 204, 204, 404),
    call: async (actor) => {
      const chat = await freshTeamChat();
      return { method: 'DELETE', path: `/chats/${chat}/members/${actor === 'anon' ? users.member.id : users[actor].id}` };
    },
  },
  {
    name: 'POST /chats/:cid/join',
    expect: s(200, 200, 200, 404, 404),
    call: async () => ({ method: 'POST', path: `/chats/${await fixtureChat(env.deps, wid, users.owner, [], 'public', 'open')}/join` }),
  },
];

describe('authorization matrix', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const got: Record<string, number> = {};
      for (const actor of ACTORS) {
        const { method, path, body, token } = await c.call(actor);
        const res = await request(method, `/api/v1${path}`, { token: token ?? tokenOf(actor), body });
        got[actor] = res.status;
        if (res.status >= 400)
          expect(res.body.error, `${actor} ${method} ${path}`).toEqual({ code: expect.any(String), message: expect.any(String), details: expect.any(Array) });
      }
      expect(got).toEqual(c.expect);
    });
  }

  it('strangers get the same 404 as for ids that do not exist', async () => {
    const stranger = users.stranger.token;
    for (const path of [`/workspaces/${wid}`, `/chats/${privateChat}`, `/chats/${privateChat}/members`]) {
      const real = await request('GET', `/api/v1${path}`, { token: stranger });
      const missing = await request('GET', `/api/v1${path.replace(/\d+/, '999999')}`, { token: stranger });
      expect(real.status).toBe(404);
      expect(missing.status).toBe(404);
      expect(real.body).toEqual(missing.body);
    }
    expect((await request('GET', '/api/v1/workspaces/abc', { token: stranger })).status).toBe(404);
  });

  it('publishes every route in the OpenAPI document', async () => {
    const doc = (await request('GET', '/api/v1/openapi.json')).body;
    const expected: Array<[string, string]> = [
      ['/api/v1/auth/signup', 'post'],
      ['/api/v1/auth/login', 'post'],
      ['/api/v1/auth/refresh', 'post'],
      ['/api/v1/auth/logout', 'post'],
      ['/api/v1/me', 'get'],
      ['/api/v1/me', 'patch'],
      ['/api/v1/workspaces', 'post'],
      ['/api/v1/workspaces', 'get'],
      ['/api/v1/workspaces/{wid}', 'get'],
      ['/api/v1/workspaces/{wid}', 'patch'],
      ['/api/v1/workspaces/{wid}/members', 'get'],
      ['/api/v1/workspaces/{wid}/members/{uid}', 'patch'],
      ['/api/v1/workspaces/{wid}/members/{uid}', 'delete'],
      ['/api/v1/workspaces/{wid}/invitations', 'post'],
      ['/api/v1/workspaces/{wid}/invitations', 'get'],
      ['/api/v1/workspaces/{wid}/invitations/{id}', 'delete'],
      ['/api/v1/invitations/{token}', 'get'],
      ['/api/v1/invitations/{token}/accept', 'post'],
      ['/api/v1/workspaces/{wid}/chats', 'post'],
      ['/api/v1/workspaces/{wid}/chats', 'get'],
      ['/api/v1/chats/{cid}', 'get'],
      ['/api/v1/chats/{cid}', 'patch'],
      ['/api/v1/chats/{cid}', 'delete'],
      ['/api/v1/chats/{cid}/members', 'get'],
      ['/api/v1/chats/{cid}/members', 'post'],
      ['/api/v1/chats/{cid}/members/{uid}', 'delete'],
      ['/api/v1/chats/{cid}/join', 'post'],
    ];
    for (const [path, method] of expected) expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    expect(doc.paths['/api/v1/auth/signup'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('display_name');
    expect(doc.paths['/api/v1/workspaces/{wid}/chats'].post.responses['201']).toBeDefined();
  });
});
