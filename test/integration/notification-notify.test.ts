// The notify job's domain function against real Postgres and Redis (no worker running): the
// once-per-user-and-message guarantee, retries finishing the fan-out, and email off without SMTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueNotifications } from '../../src/domain/notifications/enqueue.js';
import { runNotify } from '../../src/domain/notifications/notify.js';
import type { NotifyJob } from '../../src/infra/queues.js';
import { createTestEnv, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureMessage, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

let env: TestEnv;
let ann: FixtureUser, bob: FixtureUser, cy: FixtureUser;
let wid: string;

beforeAll(async () => {
  // No SMTP_URL: email is off. A private DATA_DIR would only matter for push (no subscriptions here).
  env = await createTestEnv({ WORKER_QUEUES: 'persist' });
  [ann, bob, cy] = await Promise.all(['Ann', 'Bob', 'Cy'].map((n) => fixtureUser(env.deps, n)));
  wid = await fixtureWorkspace(env.deps, ann, [
    [bob, 'member'],
    [cy, 'member'],
  ]);
});
afterAll(async () => {
  await env?.close();
});

describe('runNotify', () => {
  it('records once; a fresh duplicate does nothing; a retry re-queues the fan-out with the same job ids', async () => {
    const dm = await fixtureChat(env.deps, wid, ann, [bob], 'direct');
    const message = await fixtureMessage(env.deps, dm, ann, 'hello');
    await env.deps.db('webhooks').insert({ user_id: bob.id, url: 'https://93.184.216.34/h', secret: 's', created_by: bob.id });
    const job: NotifyJob = { kind: 'notify', message_id: message.id, user_id: bob.id, chat_id: dm, workspace_id: wid, seq: message.seq };

    const first = await runNotify(env.deps, JSON.parse(JSON.stringify(job)), false);
    expect(first).toMatchObject({ status: 'notified', webhooks: 1, email: false });
    expect(await runNotify(env.deps, job, false)).toEqual({ status: 'skipped', why: 'duplicate' });
    const retried = await runNotify(env.deps, job, true);
    expect(retried).toMatchObject({ status: 'notified', webhooks: 1 });
    expect(await env.deps.queues.webhooks.getJobCounts('waiting')).toMatchObject({ waiting: 1 });

    const rows = await env.deps.db('notifications').where({ user_id: bob.id });
    // Offline without SMTP_URL: nothing to mail, settled at once.
    expect(rows.map((r) => [r.reason, r.email_state])).toEqual([['direct', 'skipped']]);
  });

  it('skips a deleted message, a member who left, and an edit that removed the mention', async () => {
    const channel = await fixtureChat(env.deps, wid, ann, [bob, cy], 'public', 'news');
    const deleted = await fixtureMessage(env.deps, channel, ann, 'gone', { deleted: true });
    const job = (m: { id: string; seq: number }, user: FixtureUser): NotifyJob => ({
      kind: 'notify',
      message_id: m.id,
      user_id: user.id,
      chat_id: channel,
      workspace_id: wid,
      seq: m.seq,
    });
    expect(await runNotify(env.deps, job(deleted, bob), false)).toEqual({ status: 'skipped', why: 'deleted' });

    const plain = await fixtureMessage(env.deps, channel, ann, 'no mention here');
    // Public chat, default level: mentions only, and no mention_recipients row.
    expect(await runNotify(env.deps, job(plain, bob), false)).toEqual({ status: 'skipped', why: 'not_wanted' });
    await env.deps
      .db('mention_recipients')
      .insert({ user_id: bob.id, message_id: plain.id, chat_id: channel, workspace_id: wid, seq: plain.seq, kind: 'user' });
    await env.deps.db('chat_members').where({ chat_id: channel, user_id: cy.id }).delete();
    expect(await runNotify(env.deps, job(plain, cy), false)).toEqual({ status: 'skipped', why: 'gone' });
    expect(await runNotify(env.deps, job(plain, bob), false)).toMatchObject({ status: 'notified' });
  });
});

describe('enqueueNotifications', () => {
  it('queues one delayed-or-not job per recipient (not the sender, not level none) and never throws', async () => {
    const group = await fixtureChat(env.deps, wid, ann, [bob, cy], 'group');
    await env.deps.db('chat_members').where({ chat_id: group, user_id: cy.id }).update({ notify_level: 'none' });
    const message = await fixtureMessage(env.deps, group, ann, 'hi all');
    const stored = { id: message.id, chat_id: group, workspace_id: wid, seq: message.seq, sender_id: ann.id };
    await enqueueNotifications(env.deps, [stored]);
    await enqueueNotifications(env.deps, [stored]); // the persist worker's retry: no second job
    const jobs = (await env.deps.queues.notifications.getJobs(['waiting', 'delayed'])).filter(
      (j) => j.data.kind === 'notify' && j.data.message_id === message.id,
    );
    expect(jobs.map((j) => j.id)).toEqual([`n:${message.id}:${bob.id}`]);
    expect(jobs[0].opts.delay ?? 0).toBe(0); // Bob has no socket: offline, no delay

    // A broken input is logged and swallowed: persisting must not fail because of it.
    await expect(enqueueNotifications(env.deps, [{ ...stored, chat_id: 'not-a-number' }])).resolves.toBeUndefined();
  });
});
