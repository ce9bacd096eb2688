import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, startInProcess, streamEventsAfter, streamMark, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

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

const user = (name: string) => fixtureUser(env.deps, name);
const lastEventId = () => streamMark(env);
const eventsAfter = (mark: string[]) => streamEventsAfter(env, mark);

describe('workspaces', () => {
  it('creates a workspace with the creator as owner and a slug from the name', async () => {
    const ann = await user('Ann');
    const res = await request('POST', '/api/v1/workspaces', { token: ann.token, body: { name: '  Café Crème & Co  ' } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^\d+$/),
      name: 'Café Crème & Co',
      slug: 'cafe-creme-co',
      role: 'owner',
      channel_mentions: 'everyone',
      created_at: expect.stringMatching(/Z$/),
    });
    const again = await request('POST', '/api/v1/workspaces', { token: ann.token, body: { name: 'Cafe creme co' } });
    expect(again.status).toBe(201);
    expect(again.body.slug).toMatch(/^cafe-creme-co-[0-9a-f]{6}$/);
    const emoji = await request('POST', '/api/v1/workspaces', { token: ann.token, body: { name: '🎉🎉' } });
    expect(emoji.body.slug).toMatch(/^workspace/);

    const list = await request('GET', '/api/v1/workspaces', { token: ann.token });
    expect(list.status).toBe(200);
    expect(list.body.next_cursor).toBeNull();
    expect(list.body.items.map((w: { id: string }) => w.id)).toEqual([res.body.id, again.body.id, emoji.body.id]);
    const me = await request('GET', '/api/v1/me', { token: ann.token });
    expect(me.body.workspaces[0]).toEqual({ id: res.body.id, name: 'Café Crème & Co', slug: 'cafe-creme-co', role: 'owner' });
    const one = await request('GET', `/api/v1/workspaces/${res.body.id}`, { token: ann.token });
    expect(one.body).toEqual(res.body);
  });

  it('validates names', async () => {
    const ann = await user('Ann');
    for (const body of [{}, { name: '' }, { name: '   ' }, { name: 'x'.repeat(101) }, { name: 5 }, { name: 'ok', extra: 1 }]) {
      const res = await request('POST', '/api/v1/workspaces', { token: ann.token, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    }
    expect((await request('POST', '/api/v1/workspaces', { token: ann.token, raw: 'not json' })).status).toBe(400);
  });

  it('renames (admin+) and keeps the slug', async () => {
    const [owner, admin] = [await user('O'), await user('A')];
    const wid = await fixtureWorkspace(env.deps, owner, [[admin, 'admin']]);
    const before = await request('GET', `/api/v1/workspaces/${wid}`, { token: admin.token });
    const res = await request('PATCH', `/api/v1/workspaces/${wid}`, { token: admin.token, body: { name: 'New name' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: wid, name: 'New name', slug: before.body.slug, role: 'admin' });
  });
});

describe('members', () => {
  let owner: FixtureUser, admin: FixtureUser, member: FixtureUser, guest: FixtureUser, loner: FixtureUser;
  let wid: string;
  beforeAll(async () => {
    [owner, admin, member, guest, loner] = [await user('Owner'), await user('Admin'), await user('Member'), await user('Guest'), await user('Loner')];
    wid = await fixtureWorkspace(env.deps, owner, [
      [admin, 'admin'],
      [member, 'member'],
      [guest, 'guest'],
      [loner, 'member'],
    ]);
    await fixtureChat(env.deps, wid, member, [guest], 'private', 'with-guest');
  });

  it('lists members with their role, by user id, in pages', async () => {
    const res = await request('GET', `/api/v1/workspaces/${wid}/members`, { token: member.token });
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(5);
    expect(res.body.items[0]).toEqual({
      user: {
        id: owner.id,
        email: owner.email,
        display_name: 'Owner',
        username: owner.username,
        status: null,
        dnd_until: null,
        created_at: expect.any(String),
      },
      role: 'owner',
      joined_at: expect.stringMatching(/Z$/),
      presence: 'offline',
    });
    const first = await request('GET', `/api/v1/workspaces/${wid}/members?limit=2`, { token: member.token });
    expect(first.body.items.map((m: any) => m.user.id)).toEqual([owner.id, admin.id]);
    expect(first.body.next_cursor).toBe(admin.id);
    const rest = await request('GET', `/api/v1/workspaces/${wid}/members?limit=3&cursor=${first.body.next_cursor}`, { token: member.token });
    expect(rest.body.items.map((m: any) => m.user.id)).toEqual([member.id, guest.id, loner.id]);
    expect(rest.body.next_cursor).toBeNull();
    expect((await request('GET', `/api/v1/workspaces/${wid}/members?limit=0`, { token: member.token })).status).toBe(400);
    expect((await request('GET', `/api/v1/workspaces/${wid}/members?cursor=abc`, { token: member.token })).status).toBe(400);
  });

  it('shows guests only themselves and the people they share a chat with', async () => {
    const res = await request('GET', `/api/v1/workspaces/${wid}/members`, { token: guest.token });
    expect(res.status).toBe(200);
    expect(res.body.items.map((m: any) => m.user.id).sort()).toEqual([member.id, guest.id].sort());
  });

  it('applies the role rules', async () => {
    const target = await user('Target');
    await env.deps.db('workspace_members').insert({ workspace_id: wid, user_id: target.id, role: 'member' });
    const patch = (as: FixtureUser, uid: string, role: string) =>
      request('PATCH', `/api/v1/workspaces/${wid}/members/${uid}`, { token: as.token, body: { role } });

    const toGuest = await patch(admin, target.id, 'guest');
    expect(toGuest.status).toBe(200);
    expect(toGuest.body).toMatchObject({ user: { id: target.id }, role: 'guest' });
    expect((await patch(admin, target.id, 'admin')).status).toBe(403); // only owners grant admin
    expect((await patch(admin, admin.id, 'member')).status).toBe(403); // nor take it
    expect((await patch(member, target.id, 'member')).status).toBe(403);
    expect((await patch(owner, target.id, 'admin')).status).toBe(200);
    expect((await patch(owner, target.id, 'owner')).status).toBe(200);
    expect((await patch(owner, target.id, 'superuser')).status).toBe(400);
    const stranger = await user('Stranger');
    expect((await patch(owner, stranger.id, 'member')).status).toBe(404);
    // Two owners: either may step down, but not both.
    expect((await patch(target, target.id, 'member')).status).toBe(200);
    const last = await patch(owner, owner.id, 'admin');
    expect(last.status).toBe(409);
    expect(last.body.error.code).toBe('conflict');
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/members/${owner.id}`, { token: owner.token })).status).toBe(409);
  });

  it('a removed member leaves every chat at once, with chat.member_left per chat, then workspace.member_left', async () => {
    const gone = await user('Gone');
    await env.deps.db('workspace_members').insert({ workspace_id: wid, user_id: gone.id, role: 'member' });
    const c1 = await fixtureChat(env.deps, wid, owner, [gone], 'private', 'one');
    const c2 = await fixtureChat(env.deps, wid, gone, [member], 'group');
    // Warm the access cache first: removal must invalidate it.
    expect((await request('GET', `/api/v1/workspaces/${wid}`, { token: gone.token })).status).toBe(200);
    expect((await request('GET', `/api/v1/chats/${c1}`, { token: gone.token })).status).toBe(200);
    const mark = await lastEventId();

    expect((await request('DELETE', `/api/v1/workspaces/${wid}/members/${gone.id}`, { token: admin.token })).status).toBe(204);
    expect((await request('GET', `/api/v1/workspaces/${wid}`, { token: gone.token })).status).toBe(404);
    expect((await request('GET', `/api/v1/chats/${c1}`, { token: gone.token })).status).toBe(404);
    expect((await request('GET', `/api/v1/workspaces/${wid}/chats`, { token: gone.token })).status).toBe(404);
    const events = await eventsAfter(mark);
    expect(events.map((e) => [e.type, e.chat_id, e.data.user_id]).sort()).toEqual(
      [
        ['chat.member_left', c1, gone.id],
        ['chat.member_left', c2, gone.id],
        ['workspace.member_left', null, gone.id],
      ].sort(),
    );
    expect(events.at(-1)?.type).toBe('workspace.member_left');
    expect(events.every((e) => e.workspace_id === wid)).toBe(true);
    expect(await env.deps.db('chat_members').where({ user_id: gone.id })).toEqual([]);
    const members = await request('GET', `/api/v1/chats/${c2}/members`, { token: member.token });
    expect(members.body.items.map((m: any) => m.user.id)).toEqual([member.id]);
  });

  it('anyone may leave; admins may not remove admins or owners', async () => {
    const leaver = await user('Leaver');
    const admin2 = await user('Admin2');
    await env.deps.db('workspace_members').insert([
      { workspace_id: wid, user_id: leaver.id, role: 'guest' },
      { workspace_id: wid, user_id: admin2.id, role: 'admin' },
    ]);
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/members/${admin2.id}`, { token: admin.token })).status).toBe(403);
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/members/${owner.id}`, { token: admin.token })).status).toBe(403);
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/members/${admin2.id}`, { token: member.token })).status).toBe(403);
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/members/${leaver.id}`, { token: leaver.token })).status).toBe(204);
    expect((await request('GET', `/api/v1/workspaces/${wid}`, { token: leaver.token })).status).toBe(404);
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/members/${admin2.id}`, { token: owner.token })).status).toBe(204);
    expect((await request('DELETE', `/api/v1/workspaces/${wid}/members/${admin2.id}`, { token: owner.token })).status).toBe(404);
  });

  it('a demoted admin loses admin rights at once', async () => {
    const temp = await user('Temp');
    await env.deps.db('workspace_members').insert({ workspace_id: wid, user_id: temp.id, role: 'admin' });
    expect((await request('GET', `/api/v1/workspaces/${wid}/invitations`, { token: temp.token })).status).toBe(200);
    expect((await request('PATCH', `/api/v1/workspaces/${wid}/members/${temp.id}`, { token: owner.token, body: { role: 'member' } })).status).toBe(200);
    expect((await request('GET', `/api/v1/workspaces/${wid}/invitations`, { token: temp.token })).status).toBe(403);
  });
});
