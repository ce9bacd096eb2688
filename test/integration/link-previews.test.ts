// Link previews: the unfurl worker fetches Open Graph data for links after a message is stored
// or edited and attaches it by an event; with the outbound guard on (the default), loopback
// targets are refused and never contacted.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { client, createTestEnv, eventually, startInProcess } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';
import { openWs } from '../helpers/realtime.js';

let site: http.Server;
let base: string;
const hits: string[] = [];

beforeAll(async () => {
  const png = await sharp({ create: { width: 1200, height: 630, channels: 3, background: '#cc3300' } })
    .png()
    .toBuffer();
  site = http.createServer((req, res) => {
    hits.push(req.url!);
    if (req.url === '/img.png') {
      res.writeHead(200, { 'content-type': 'image/png' });
      return res.end(png);
    }
    const title = req.url === '/other' ? 'Other page' : 'A &amp; B';
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      `<html><head><title>fallback</title><meta property="og:title" content="${title}"><meta property="og:description" content="About it"><meta property="og:site_name" content="Site"><meta property="og:image" content="/img.png"></head><body>x</body></html>`,
    );
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => site.close(() => resolve())));

async function world(overrides: Record<string, string>) {
  const env = await createTestEnv({ WORKER_QUEUES: 'persist,unfurl', ...overrides });
  const app = await startInProcess(env, 'all');
  const [ann, bob] = await Promise.all(['Ann', 'Bob'].map((n) => fixtureUser(env.deps, n)));
  const wid = await fixtureWorkspace(env.deps, ann, [[bob, 'member']]);
  const chat = await fixtureChat(env.deps, wid, ann, [bob]);
  return { env, app, ann, bob, chat, request: client(app.url) };
}

let sent = 0;
async function say(request: ReturnType<typeof client>, user: FixtureUser, chatId: string, content: string) {
  const res = await request('POST', `/api/v1/chats/${chatId}/messages`, { token: user.token, body: { content, client_id: `l-${++sent}` } });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

describe('link previews', () => {
  let w: Awaited<ReturnType<typeof world>>;
  beforeAll(async () => {
    w = await world({ OUTBOUND_ALLOW_PRIVATE_ADDRESSES: 'true' });
  });
  afterAll(async () => {
    await w?.app.stop();
    await w?.env.close();
  });

  it('are fetched after the message is stored and attached by an event; edits refresh them', async () => {
    const ws = await openWs(w.app.url, w.bob.token);
    const id = await say(w.request, w.ann, w.chat, `look ${base}/page and \`${base}/in-code\``);
    const event = await eventually(async () => ws.inbox.events('message.link_previews').find((f) => f.data.id === id));
    const expected = {
      url: `${base}/page`,
      title: 'A & B',
      description: 'About it',
      site_name: 'Site',
      image_url: expect.stringMatching(/^\/api\/v1\/link-previews\/images\/[0-9a-f]{64}\.webp$/),
    };
    expect(event.data.link_previews).toEqual([expected]);
    expect((await w.request('GET', `/api/v1/messages/${id}`, { token: w.bob.token })).body.link_previews).toEqual([expected]);
    expect(hits).not.toContain('/in-code');
    // The image is our own small copy, served to anyone who has its name.
    const image = await fetch(`${w.app.url}${event.data.link_previews[0].image_url}`);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/webp');
    expect(image.headers.get('cache-control')).toContain('immutable');
    const meta = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 320, 168]);
    expect((await fetch(`${w.app.url}/api/v1/link-previews/images/${'0'.repeat(64)}.webp`)).status).toBe(404);
    expect((await fetch(`${w.app.url}/api/v1/link-previews/images/..%2F..%2Fetc.webp`)).status).toBe(404);

    expect((await w.request('PATCH', `/api/v1/messages/${id}`, { token: w.ann.token, body: { content: `now ${base}/other` } })).status).toBe(202);
    const updated = await eventually(async () =>
      ws.inbox.events('message.link_previews').find((f) => f.data.id === id && f.data.link_previews[0]?.title === 'Other page'),
    );
    expect(updated.data.link_previews).toHaveLength(1);
    await ws.close();
  });

  it('fetch a link once for many messages (cached per URL)', async () => {
    const before = hits.filter((h) => h === '/cached').length;
    const ids = [await say(w.request, w.ann, w.chat, `${base}/cached`), await say(w.request, w.bob, w.chat, `again ${base}/cached`)];
    for (const id of ids)
      await eventually(async () => (await w.request('GET', `/api/v1/messages/${id}`, { token: w.ann.token })).body.link_previews?.length === 1);
    expect(hits.filter((h) => h === '/cached').length - before).toBe(1);
  });
});

describe('the outbound guard', () => {
  it('refuses loopback targets by default: no preview, and the server is never contacted', async () => {
    const w = await world({});
    try {
      const before = hits.length;
      const id = await say(w.request, w.ann, w.chat, `private ${base}/secret and http://localhost:${new URL(base).port}/secret2`);
      // The job runs and completes without a preview.
      await eventually(async () => (await w.env.deps.queues.unfurl.getJobCounts('completed')).completed >= 1);
      expect((await w.request('GET', `/api/v1/messages/${id}`, { token: w.ann.token })).body.link_previews).toEqual([]);
      expect(hits.length).toBe(before);
    } finally {
      await w.app.stop();
      await w.env.close();
    }
  });
});
