// User-scoped events (ChatEvent.user_id): only that user's connections receive them, live and
// on resume, over both transports, and only where the user may see the chat or workspace.
// Events are produced the way domain code produces them (publishEvents to the stream).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishEvents, type ChatEvent } from '../../src/infra/events.js';
import type { Running } from '../../src/roles.js';
import { createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';
import { messageEvent, openSse, openWs, resumeIdFor, streamIdOf, type Frame, type Inbox } from '../helpers/realtime.js';

let env: TestEnv;
let fanout: Running;

beforeAll(async () => {
  env = await createTestEnv();
  fanout = await startInProcess(env, 'fanout');
});
afterAll(async () => {
  await fanout?.stop();
  await env?.close();
});

const publish = (...events: ChatEvent[]) => publishEvents(env.deps.redis, env.deps.stream, events);

/** alice and bob share `chat` in workspace `ws`. */
async function world() {
  const [alice, bob] = await Promise.all(['Alice', 'Bob'].map((n) => fixtureUser(env.deps, n)));
  const ws = await fixtureWorkspace(env.deps, alice, [[bob, 'member']]);
  const chat = await fixtureChat(env.deps, ws, alice, [bob]);
  return { alice, bob, ws, chat };
}

/** A notifications.updated event for `user` (user-scoped), as the settings domain function builds it. */
const settingsEvent = (ws: string, chat: string | null, user: FixtureUser, level: string): ChatEvent => ({
  type: 'notifications.updated',
  workspace_id: ws,
  chat_id: chat,
  user_id: user.id,
  data: { chat_id: chat, level, muted: false, effective_level: level },
});

const levels = (inbox: Inbox) => inbox.events('notifications.updated').map((f: Frame) => f.data.level as string);

describe('user-scoped events', () => {
  it('reach only their user, live, over WebSocket and SSE, with user_id on the wire', async () => {
    const { alice, bob, ws, chat } = await world();
    const clients = await Promise.all([
      openWs(fanout.url, alice.token),
      openSse(fanout.url, alice.token),
      openWs(fanout.url, bob.token),
      openSse(fanout.url, bob.token),
    ]);
    const [aliceWs, aliceSse, bobWs, bobSse] = clients;
    // A chat event first proves every connection is live before the user-scoped ones go out.
    const [ready] = await publish(messageEvent(ws, chat, alice.id, 1));
    await Promise.all(clients.map((c) => c.inbox.seen(ready)));

    const [forAlice, forBob, marker] = await publish(
      settingsEvent(ws, chat, alice, 'mentions'),
      settingsEvent(ws, chat, bob, 'none'),
      messageEvent(ws, chat, alice.id, 2),
    );
    await Promise.all(clients.map((c) => c.inbox.seen(marker)));

    for (const { inbox } of [aliceWs, aliceSse]) {
      expect(levels(inbox)).toEqual(['mentions']);
      const frame = inbox.events('notifications.updated')[0] as Frame & { user_id?: string };
      expect({ ...frame, id: streamIdOf(frame) }).toMatchObject({ id: forAlice, workspace_id: ws, chat_id: chat, user_id: alice.id });
    }
    const sseFrame = aliceSse.inbox.events('notifications.updated')[0];
    expect(streamIdOf({ id: sseFrame.sseId, workspace_id: sseFrame.workspace_id })).toBe(forAlice);
    for (const { inbox } of [bobWs, bobSse]) {
      expect(levels(inbox)).toEqual(['none']);
      expect(streamIdOf(inbox.events('notifications.updated')[0])).toBe(forBob);
    }
    // Events without user_id carry none on the wire.
    expect(aliceWs.inbox.events('message.created').every((f) => !('user_id' in f))).toBe(true);
    for (const c of clients) {
      if ('es' in c) c.close();
      else await c.close();
    }
  });

  it('are replayed on resume to their user only (WebSocket last_event_id and SSE Last-Event-ID)', async () => {
    const { alice, bob, ws, chat } = await world();
    const [mark] = await publish(messageEvent(ws, chat, alice.id, 1));
    // Missed while nobody was connected.
    const [, , last] = await publish(settingsEvent(ws, chat, alice, 'all'), settingsEvent(ws, chat, bob, 'mentions'), messageEvent(ws, chat, bob.id, 2));

    const aliceWs = await openWs(fanout.url, alice.token, { lastEventId: resumeIdFor(mark, ws) });
    const aliceSse = await openSse(fanout.url, alice.token, { lastEventId: resumeIdFor(mark, ws) });
    const bobWs = await openWs(fanout.url, bob.token, { lastEventId: resumeIdFor(mark, ws) });
    await Promise.all([aliceWs, aliceSse, bobWs].map((c) => c.inbox.seen(last)));
    expect(levels(aliceWs.inbox)).toEqual(['all']);
    expect(levels(aliceSse.inbox)).toEqual(['all']);
    expect(levels(bobWs.inbox)).toEqual(['mentions']);
    // Replay then live: nothing repeated, and a live one for bob stays away from alice.
    const [, after] = await publish(settingsEvent(ws, chat, bob, 'none'), messageEvent(ws, chat, bob.id, 3));
    await Promise.all([aliceWs, aliceSse, bobWs].map((c) => c.inbox.seen(after)));
    expect(levels(aliceWs.inbox)).toEqual(['all']);
    expect(levels(bobWs.inbox)).toEqual(['mentions', 'none']);
    expect(new Set(aliceWs.inbox.ids()).size).toBe(aliceWs.inbox.ids().length);
    await aliceWs.close();
    aliceSse.close();
    await bobWs.close();
  });

  it('without a chat, reach their user only while they belong to the workspace, live and on replay', async () => {
    const { alice, bob, ws, chat } = await world();
    // A second workspace keeps alice connected to something after she leaves `ws`.
    const other = await fixtureWorkspace(env.deps, bob, [[alice, 'member']]);
    const otherChat = await fixtureChat(env.deps, other, bob, [alice]);
    const live = await openWs(fanout.url, alice.token);
    const [mark] = await publish(messageEvent(ws, chat, bob.id, 1));
    await live.inbox.seen(mark);
    // What the client would resume from: the id it got with that event.
    const resumeFrom = live.inbox.frames.find((f) => streamIdOf(f) === mark)!.id;

    const [before] = await publish(settingsEvent(ws, null, alice, 'before'));
    await env.deps.db('chat_members').where({ user_id: alice.id, workspace_id: ws }).delete();
    await env.deps.db('workspace_members').where({ user_id: alice.id, workspace_id: ws }).delete();
    await publish({ type: 'workspace.member_left', workspace_id: ws, chat_id: null, data: { user_id: alice.id } });
    const [, last] = await publish(settingsEvent(ws, null, alice, 'after'), messageEvent(other, otherChat, bob.id, 1));

    await live.inbox.seen(last);
    expect(levels(live.inbox)).toEqual(['before']);
    expect(streamIdOf(live.inbox.events('notifications.updated')[0])).toBe(before);
    await live.close();

    // Resumed from before she left: the same, as membership is taken at each event's time.
    const resumed = await openWs(fanout.url, alice.token, { lastEventId: resumeFrom });
    await resumed.inbox.seen(last);
    expect(levels(resumed.inbox)).toEqual(['before']);
    await resumed.close();
  });
});
