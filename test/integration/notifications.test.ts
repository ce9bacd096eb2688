// The notification pipeline end to end: messages sent through the real API, persisted by the
// real worker, notified through the `notifications` and `webhooks` queues to a real SMTP server
// (smtp-server), a webhook receiver and a Web Push service (node:http, payloads decrypted with
// http_ece). Users without a socket are offline; openWs makes one online.
import { createECDH, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';
import { openWs } from '../helpers/realtime.js';

const ece = createRequire(import.meta.url)('http_ece') as { decrypt(buffer: Buffer, params: Record<string, unknown>): Buffer };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NOTIFY_DELAY_SECONDS = 2;
// Long enough that a burst sent at once lands in one digest even on a slow machine.
const EMAIL_DIGEST_SECONDS = 2;

let env: TestEnv;
let app: Running;
let request: ReturnType<typeof client>;
let wid: string;
let ann: FixtureUser;

// --- A real SMTP server --------------------------------------------------------------------
const mails: ParsedMail[] = [];
let smtp: SMTPServer;
let smtpPort: number;
const mailsTo = (user: FixtureUser) => mails.filter((m) => (Array.isArray(m.to) ? m.to : m.to ? [m.to] : []).some((a) => a.text.includes(user.email)));

// --- A webhook receiver ----------------------------------------------------------------------
interface Delivery {
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  body: any;
  status: number;
}
const deliveries: Delivery[] = [];
/** path -> statuses to answer before 200s. */
const failFirst = new Map<string, number[]>();
let receiver: http.Server;
let receiverUrl: string;

// --- A Web Push service -----------------------------------------------------------------------
interface PushRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}
const pushes: PushRequest[] = [];
/** Paths the push service answers with this status instead of 201. */
const pushStatus = new Map<string, number>();
let pushService: http.Server;
let pushUrl: string;

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream).then((mail) => {
        mails.push(mail);
        callback();
      }, callback);
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
  smtpPort = (smtp.server.address() as AddressInfo).port;

  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const queue = failFirst.get(req.url!) ?? [];
      const status = queue.shift() ?? 200;
      deliveries.push({ path: req.url!, headers: req.headers, raw, body: JSON.parse(raw), status });
      res.writeHead(status).end();
    });
  });
  receiverUrl = await listen(receiver);

  pushService = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      pushes.push({ path: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(pushStatus.get(req.url!) ?? 201).end();
    });
  });
  pushUrl = await listen(pushService);

  env = await createTestEnv({
    NOTIFY_DELAY_SECONDS: String(NOTIFY_DELAY_SECONDS),
    EMAIL_DIGEST_SECONDS: String(EMAIL_DIGEST_SECONDS),
    SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    EMAIL_FROM: 'Fechatter Test <noreply@fechatter.test>',
    PUBLIC_URL: 'https://chat.example.test',
    OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'true',
    // The VAPID pair is generated into DATA_DIR (not configured): that path is tested too.
    DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'fechatter-notify-')),
  });
  app = await startInProcess(env, 'all');
  request = client(app.url);
  ann = await fixtureUser(env.deps, 'Ann');
  wid = await fixtureWorkspace(env.deps, ann);
});

afterAll(async () => {
  await app?.stop();
  await env?.close();
  await new Promise((r) => smtp?.close(() => r(undefined)));
  receiver?.close();
  pushService?.close();
});

/** A fresh workspace member (every test has its own recipients, so counts are exact). */
async function member(name: string): Promise<FixtureUser & { username: string }> {
  const user = await fixtureUser(env.deps, name);
  await env.deps.db('workspace_members').insert({ workspace_id: wid, user_id: user.id, role: 'member' });
  const { username } = await env.deps.db('users').where({ id: user.id }).first('username');
  return { ...user, username };
}

/** A webhook of the user's pointing at the receiver; returns its path and secret. */
async function webhookFor(user: FixtureUser): Promise<{ path: string; secret: string; id: string }> {
  const hookPath = `/hooks/${user.id}`;
  const res = await request('POST', '/api/v1/me/webhooks', { token: user.token, body: { url: receiverUrl + hookPath } });
  expect(res.status).toBe(201);
  return { path: hookPath, secret: res.body.secret, id: res.body.id };
}

async function sendStored(user: FixtureUser, chatId: string, content: string): Promise<{ id: string; seq: number }> {
  const res = await request('POST', `/api/v1/chats/${chatId}/messages`, { token: user.token, body: { content, client_id: uuidv7() } });
  expect(res.status).toBe(202);
  return eventually(async () => {
    const got = await request('GET', `/api/v1/messages/${res.body.id}`, { token: user.token });
    return got.status === 200 ? got.body : undefined;
  });
}

const hooksAt = (p: string) => deliveries.filter((d) => d.path === p);
const notificationRows = (user: FixtureUser) => env.deps.db('notifications').where({ user_id: user.id }).orderBy('id');

function verifySignature(d: Delivery, secret: string): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(d.headers['fechatter-signature']));
  if (!match) return false;
  return createHmac('sha256', secret).update(`${match[1]}.${d.raw}`).digest('hex') === match[2];
}

/** Nothing more arrives for a while (the negative checks wait past every delay in play). */
const quietPeriod = () => sleep((NOTIFY_DELAY_SECONDS + EMAIL_DIGEST_SECONDS) * 1000 + 1500);

describe('offline recipients', () => {
  it('a burst of 3 DMs: one webhook per message, signed, and ONE email listing all three', async () => {
    const bob = await member('Bob');
    const hook = await webhookFor(bob);
    const dm = await fixtureChat(env.deps, wid, ann, [bob], 'direct');
    const sent = await Promise.all(['first thing', 'second thing', 'third <thing> & more'].map((c) => sendStored(ann, dm, c)));

    const hooks = await eventually(async () => (hooksAt(hook.path).length >= 3 ? hooksAt(hook.path) : undefined));
    const [mail] = await eventually(async () => (mailsTo(bob).length >= 1 ? mailsTo(bob) : undefined));
    await quietPeriod();
    expect(hooksAt(hook.path)).toHaveLength(3);
    expect(mailsTo(bob)).toHaveLength(1);

    for (const d of hooks) {
      expect(d.headers['content-type']).toBe('application/json');
      expect(d.headers['fechatter-event']).toBe('notification');
      expect(d.headers['fechatter-delivery']).toBe(`${d.body.id}:${hook.id}`);
      expect(verifySignature(d, hook.secret)).toBe(true);
      expect(verifySignature(d, 'some other secret')).toBe(false);
      expect(d.body).toMatchObject({
        type: 'notification',
        reason: 'direct',
        user: { id: bob.id, username: bob.username, display_name: 'Bob' },
        workspace_id: wid,
        chat: { id: dm, type: 'direct', name: null },
        message: { chat_id: dm, sender_id: ann.id },
      });
    }
    expect(hooks.map((d) => d.body.message.id).sort()).toEqual(sent.map((m) => m.id).sort());

    expect(mail.from?.text).toContain('noreply@fechatter.test');
    for (const content of ['first thing', 'second thing', 'third <thing> & more']) expect(mail.text).toContain(content);
    expect(mail.html).toContain('third &#60;thing&#62; &#38; more');
    expect(mail.text).toContain(`https://chat.example.test/#/w/${wid}/c/${dm}`);
    const rows = await notificationRows(bob);
    expect(rows.map((r) => [r.reason, r.email_state])).toEqual([
      ['direct', 'sent'],
      ['direct', 'sent'],
      ['direct', 'sent'],
    ]);
  });

  it('group chat (level all): every message; public chat: only the mentioned user', async () => {
    const [cat, dan, eve] = await Promise.all([member('Cat'), member('Dan'), member('Eve')]);
    const [catHook, danHook, eveHook] = await Promise.all([webhookFor(cat), webhookFor(dan), webhookFor(eve)]);
    const group = await fixtureChat(env.deps, wid, ann, [cat], 'group');
    const channel = await fixtureChat(env.deps, wid, ann, [dan, eve], 'public', 'town-square');

    await sendStored(ann, group, 'hello group');
    await sendStored(ann, channel, 'hello channel, nobody named');
    const named = await sendStored(ann, channel, `hey @${dan.username} look`);

    await eventually(async () => hooksAt(catHook.path).length === 1 && hooksAt(danHook.path).length === 1);
    await quietPeriod();
    expect(hooksAt(catHook.path).map((d) => d.body.reason)).toEqual(['message']);
    expect(hooksAt(danHook.path).map((d) => [d.body.reason, d.body.message.id])).toEqual([['mention', named.id]]);
    expect(hooksAt(eveHook.path)).toHaveLength(0);
    expect(await notificationRows(eve)).toHaveLength(0);
    expect(mailsTo(cat)).toHaveLength(1);
    expect(mailsTo(dan)).toHaveLength(1);
    expect(mailsTo(dan)[0].text).toContain(`#town-square`);
    expect(mailsTo(eve)).toHaveLength(0);
  });

  it('a muted chat sends nothing', async () => {
    const fay = await member('Fay');
    const hook = await webhookFor(fay);
    const dm = await fixtureChat(env.deps, wid, ann, [fay], 'direct');
    const muted = await request('PATCH', `/api/v1/chats/${dm}/notifications`, { token: fay.token, body: { muted: true } });
    expect(muted.status).toBe(200);
    await sendStored(ann, dm, 'you will not hear of this');
    await quietPeriod();
    expect(hooksAt(hook.path)).toHaveLength(0);
    expect(mailsTo(fay)).toHaveLength(0);
    expect(await notificationRows(fay)).toHaveLength(0);
  });

  it('do-not-disturb defers: nothing while it lasts, delivered once it ends', async () => {
    const gus = await member('Gus');
    const hook = await webhookFor(gus);
    const dm = await fixtureChat(env.deps, wid, ann, [gus], 'direct');
    const until = new Date(Date.now() + 4000);
    const dnd = await request('PATCH', '/api/v1/me', { token: gus.token, body: { dnd_until: until.toISOString() } });
    expect(dnd.status).toBe(200);
    const message = await sendStored(ann, dm, 'for after your nap');

    await sleep(until.getTime() - Date.now() - 1000);
    expect(hooksAt(hook.path)).toHaveLength(0);
    expect(mailsTo(gus)).toHaveLength(0);
    expect(await notificationRows(gus)).toHaveLength(0);
    const job = await env.deps.queues.notifications.getJob(`n:${message.id}:${gus.id}`);
    expect(await job?.getState()).toBe('delayed');

    const [d] = await eventually(async () => (hooksAt(hook.path).length > 0 ? hooksAt(hook.path) : undefined), 10_000);
    expect(Date.now()).toBeGreaterThanOrEqual(until.getTime());
    expect(d.body.message.id).toBe(message.id);
    await eventually(async () => mailsTo(gus).length === 1);
    await quietPeriod();
    expect(hooksAt(hook.path)).toHaveLength(1);
    expect(mailsTo(gus)).toHaveLength(1);
  });
});

describe('online recipients', () => {
  it('reading within NOTIFY_DELAY_SECONDS cancels the notification; not reading gets it (no email)', async () => {
    const [hal, ivy] = await Promise.all([member('Hal'), member('Ivy')]);
    const [halHook, ivyHook] = await Promise.all([webhookFor(hal), webhookFor(ivy)]);
    const halDm = await fixtureChat(env.deps, wid, ann, [hal], 'direct');
    const ivyDm = await fixtureChat(env.deps, wid, ann, [ivy], 'direct');
    const sockets = await Promise.all([openWs(app.url, hal.token), openWs(app.url, ivy.token)]);
    try {
      await eventually(async () => {
        const presence = await env.deps.redis.exists(env.deps.keys.presence(hal.id), env.deps.keys.presence(ivy.id));
        return presence === 2;
      });
      const [toHal, toIvy] = await Promise.all([sendStored(ann, halDm, 'read me now'), sendStored(ann, ivyDm, 'or later')]);
      const read = await request('POST', `/api/v1/chats/${halDm}/read`, { token: hal.token, body: { seq: toHal.seq } });
      expect(read.status).toBe(202);

      const [d] = await eventually(async () => (hooksAt(ivyHook.path).length > 0 ? hooksAt(ivyHook.path) : undefined), 10_000);
      expect(d.body.message.id).toBe(toIvy.id);
      await quietPeriod();
      expect(hooksAt(halHook.path)).toHaveLength(0);
      expect(await notificationRows(hal)).toHaveLength(0);
      expect(mailsTo(hal)).toHaveLength(0);
      // Ivy was online: told (webhook) but not emailed.
      expect((await notificationRows(ivy)).map((r) => r.email_state)).toEqual([null]);
      expect(mailsTo(ivy)).toHaveLength(0);
    } finally {
      await Promise.all(sockets.map((s) => s.close()));
    }
  });
});

describe('webhook delivery', () => {
  it('retries a receiver that fails twice; every attempt carries the same delivery id', async () => {
    const jo = await member('Jo');
    const hook = await webhookFor(jo);
    failFirst.set(hook.path, [500, 503]);
    const dm = await fixtureChat(env.deps, wid, ann, [jo], 'direct');
    await sendStored(ann, dm, 'try, try again');
    const attempts = await eventually(async () => (hooksAt(hook.path).length >= 3 ? hooksAt(hook.path) : undefined), 15_000);
    expect(attempts.map((a) => a.status)).toEqual([500, 503, 200]);
    expect(new Set(attempts.map((a) => a.headers['fechatter-delivery'])).size).toBe(1);
    for (const a of attempts) expect(verifySignature(a, hook.secret)).toBe(true);
    const job = await env.deps.queues.webhooks.getJob(`w:${hook.id}:${attempts[0].body.id}`);
    expect(job?.opts).toMatchObject({ attempts: 8, backoff: { type: 'exponential', delay: 1000 } });
    await sleep(2500);
    expect(hooksAt(hook.path)).toHaveLength(3);
  });

  it('a workspace webhook receives every notification of the workspace', async () => {
    const kim = await member('Kim');
    const res = await request('POST', `/api/v1/workspaces/${wid}/webhooks`, { token: ann.token, body: { url: `${receiverUrl}/workspace/${wid}` } });
    expect(res.status).toBe(201);
    const dm = await fixtureChat(env.deps, wid, ann, [kim], 'direct');
    const message = await sendStored(ann, dm, 'for the auditors too');
    const d = await eventually(async () => hooksAt(`/workspace/${wid}`).find((x) => x.body.message.id === message.id));
    expect(d.headers['fechatter-delivery']).toBe(`${d.body.id}:${res.body.id}`);
    expect(verifySignature(d, res.body.secret)).toBe(true);
    expect(d.body.user.id).toBe(kim.id);
    const removed = await request('DELETE', `/api/v1/workspaces/${wid}/webhooks/${res.body.id}`, { token: ann.token });
    expect(removed.status).toBe(204);
  });
});

describe('Web Push', () => {
  function browserKeys() {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    return { ecdh, auth, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } };
  }

  it('sends an encrypted, VAPID-signed payload; a 410 from the push service removes the subscription', async () => {
    const lee = await member('Lee');
    const vapid = await request('GET', '/api/v1/push/vapid-public-key', { token: lee.token });
    expect(vapid.status).toBe(200);
    expect(Buffer.from(vapid.body.public_key, 'base64url')).toHaveLength(65);

    const good = browserKeys();
    const gone = browserKeys();
    const live = await request('POST', '/api/v1/me/push-subscriptions', { token: lee.token, body: { endpoint: `${pushUrl}/push/lee-live`, keys: good.keys } });
    const dead = await request('POST', '/api/v1/me/push-subscriptions', { token: lee.token, body: { endpoint: `${pushUrl}/push/lee-gone`, keys: gone.keys } });
    expect([live.status, dead.status]).toEqual([201, 201]);
    pushStatus.set('/push/lee-gone', 410);

    const dm = await fixtureChat(env.deps, wid, ann, [lee], 'direct');
    const message = await sendStored(ann, dm, 'ping from Ann');
    const push = await eventually(async () => pushes.find((p) => p.path === '/push/lee-live'));
    expect(push.headers['content-encoding']).toBe('aes128gcm');
    expect(String(push.headers.authorization)).toMatch(new RegExp(`^vapid t=[\\w-]+\\.[\\w-]+\\.[\\w-]+, k=${vapid.body.public_key}$`));
    const payload = JSON.parse(
      ece.decrypt(push.body, { version: 'aes128gcm', privateKey: good.ecdh, authSecret: good.auth.toString('base64url') }).toString('utf8'),
    );
    expect(payload).toEqual({
      title: 'Ann',
      body: 'ping from Ann',
      chat_id: dm,
      workspace_id: wid,
      message_id: message.id,
      url: `https://chat.example.test/#/w/${wid}/c/${dm}`,
    });

    await eventually(async () => pushes.some((p) => p.path === '/push/lee-gone'));
    const left = await eventually(async () => {
      const list = await request('GET', '/api/v1/me/push-subscriptions', { token: lee.token });
      return list.body.items.length === 1 ? list.body.items : undefined;
    });
    expect(left.map((s: { id: string }) => s.id)).toEqual([live.body.id]);
  });
});
