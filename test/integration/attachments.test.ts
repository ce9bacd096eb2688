// File attachments end to end: upload (streamed, size-limited, sniffed, sanitized), send with a
// message, download by chat members only, thumbnails, the workspace quota, removal with the message.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepUnsentUploads } from '../../src/domain/attachments/upload.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

const MAX = 200_000;
const QUOTA = 500_000;
let env: TestEnv;
let app: Running;
let request: ReturnType<typeof client>;
let ann: FixtureUser, bob: FixtureUser, cat: FixtureUser, stranger: FixtureUser;
let wid: string, general: string, secret: string;

beforeAll(async () => {
  env = await createTestEnv({ WORKER_QUEUES: 'persist', UPLOAD_MAX_BYTES: String(MAX), WORKSPACE_STORAGE_QUOTA_BYTES: String(QUOTA) });
  app = await startInProcess(env, 'all');
  request = client(app.url);
  [ann, bob, cat, stranger] = await Promise.all(['Ann', 'Bob', 'Cat', 'Stranger'].map((n) => fixtureUser(env.deps, n)));
  wid = await fixtureWorkspace(env.deps, ann, [
    [bob, 'member'],
    [cat, 'member'],
  ]);
  await fixtureWorkspace(env.deps, stranger);
  general = await fixtureChat(env.deps, wid, ann, [bob, cat], 'public', 'general');
  secret = await fixtureChat(env.deps, wid, ann, [bob], 'private', 'secret');
});
afterAll(async () => {
  await app?.stop();
  await env?.close();
});

const filesDir = () => path.join(env.config.DATA_DIR, 'files');
const blobCount = () =>
  existsSync(filesDir())
    ? readdirSync(filesDir(), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && !e.parentPath.includes('.tmp')).length
    : 0;

async function upload(user: FixtureUser, chatId: string, body: Buffer | ReadableStream, filename: string, type = 'application/octet-stream') {
  const res = await fetch(`${app.url}/api/v1/chats/${chatId}/attachments?filename=${encodeURIComponent(filename)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${user.token}`, 'content-type': type },
    body,
    // Node's fetch needs this for a streamed body.
    duplex: 'half',
  } as RequestInit);
  return { status: res.status, body: (await res.json()) as any };
}

let sent = 0;
async function say(user: FixtureUser, chatId: string, content: string, attachment_ids: string[]) {
  const res = await request('POST', `/api/v1/chats/${chatId}/messages`, { token: user.token, body: { content, client_id: `a-${++sent}`, attachment_ids } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return eventually(async () => {
    const got = await request('GET', `/api/v1/messages/${res.body.id}`, { token: user.token });
    return got.status === 200 ? got.body : null;
  });
}

const png = () =>
  sharp({ create: { width: 640, height: 400, channels: 3, background: '#3366aa' } })
    .png()
    .toBuffer();

describe('attachments', () => {
  it('upload an image, send it, and let chat members download it and its thumbnail', async () => {
    const image = await png();
    const up = await upload(ann, general, image, '../../etc/holiday.png', 'text/plain');
    expect(up.status).toBe(201);
    expect(up.body).toMatchObject({
      filename: 'holiday.png',
      content_type: 'image/png',
      size: image.length,
      width: 640,
      height: 400,
      thumbnail_url: `/api/v1/attachments/${up.body.id}/thumbnail`,
    });

    // Before it is sent only the uploader sees it.
    const get = (user: FixtureUser, url: string) => fetch(`${app.url}${url}`, { headers: { authorization: `Bearer ${user.token}` } });
    expect((await get(ann, up.body.url)).status).toBe(200);
    expect((await get(bob, up.body.url)).status).toBe(404);

    const message = await say(ann, general, 'look', [up.body.id]);
    expect(message.attachments).toEqual([up.body]);
    const file = await get(bob, up.body.url);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('image/png');
    expect(file.headers.get('x-content-type-options')).toBe('nosniff');
    expect(file.headers.get('content-security-policy')).toContain('sandbox');
    expect(Buffer.from(await file.arrayBuffer()).equals(image)).toBe(true);
    // A reader of the public chat who has not joined may see it; strangers may not.
    expect((await get(cat, up.body.url)).status).toBe(200);
    expect((await get(stranger, up.body.url)).status).toBe(404);

    const thumb = await get(bob, up.body.thumbnail_url);
    expect(thumb.headers.get('content-type')).toBe('image/webp');
    const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([320, 200]);

    const list = await request('GET', `/api/v1/chats/${general}/attachments`, { token: cat.token });
    expect(list.body.items).toEqual([{ ...up.body, message_id: message.id, uploader_id: ann.id }]);
    expect((await request('GET', `/api/v1/chats/${secret}/attachments`, { token: cat.token })).status).toBe(404);
  });

  it('never serves active content as such, and names files safely', async () => {
    const up = await upload(ann, secret, Buffer.from('<html><script>alert(1)</script></html>'), 'evil.html', 'text/html');
    expect(up.body.content_type).toBe('application/octet-stream');
    await say(ann, secret, 'html', [up.body.id]);
    const res = await fetch(`${app.url}${up.body.url}`, { headers: { authorization: `Bearer ${bob.token}` } });
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename="evil.html"/);
    const text = await upload(ann, secret, Buffer.from('plain words\n'), 'notes\u202Etxt.exe', 'application/x-msdownload');
    expect(text.body).toMatchObject({ content_type: 'text/plain', thumbnail_url: null, width: null });
    expect(text.body.filename).not.toContain('\u202E');
  });

  it('refuses oversized uploads (declared or streamed) and leaves nothing behind', async () => {
    const before = blobCount();
    const big = await upload(ann, general, Buffer.alloc(MAX + 1), 'big.bin');
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('payload_too_large');
    // No Content-Length: the stream is cut at the limit.
    let pushed = 0;
    const stream = new ReadableStream({
      pull(controller) {
        if (pushed > MAX * 2) return controller.close();
        pushed += 16_384;
        controller.enqueue(new Uint8Array(16_384));
      },
    });
    expect((await upload(ann, general, stream as unknown as ReadableStream, 'stream.bin')).status).toBe(413);
    expect(blobCount()).toBe(before);
    expect((await upload(ann, general, Buffer.alloc(0), 'empty.txt')).status).toBe(400);
    expect(
      (await fetch(`${app.url}/api/v1/chats/${general}/attachments`, { method: 'POST', headers: { authorization: `Bearer ${ann.token}` }, body: 'x' })).status,
    ).toBe(400);
    expect((await upload(stranger, general, Buffer.from('x'), 'x.txt')).status).toBe(404);
  });

  it('refuses attachments that are not mine, not of this chat, or already sent', async () => {
    const mine = await upload(bob, general, Buffer.from('bob file'), 'bob.txt');
    const bad = async (user: FixtureUser, chatId: string, ids: string[]) =>
      (
        await request('POST', `/api/v1/chats/${chatId}/messages`, {
          token: user.token,
          body: { content: 'x', client_id: `bad-${++sent}`, attachment_ids: ids },
        })
      ).status;
    expect(await bad(ann, general, [mine.body.id])).toBe(400);
    expect(await bad(bob, secret, [mine.body.id])).toBe(400);
    await say(bob, general, 'mine', [mine.body.id]);
    expect(await bad(bob, general, [mine.body.id])).toBe(400);
  });

  it('counts every byte against the workspace quota', async () => {
    const ws2 = await fixtureWorkspace(env.deps, ann);
    const chat2 = await fixtureChat(env.deps, ws2, ann, [], 'public', 'quota');
    for (let i = 0; i < 3; i++) expect((await upload(ann, chat2, Buffer.alloc(150_000, i + 1), `part${i}.bin`)).status).toBe(201);
    const over = await upload(ann, chat2, Buffer.alloc(150_000, 9), 'over.bin');
    expect(over.status).toBe(413);
    expect(over.body.error.message).toMatch(/quota|storage/);
    // Other workspaces are not affected.
    expect((await upload(ann, general, Buffer.from('still fine'), 'ok.txt')).status).toBe(201);
  });

  it('are swept, bytes and all, when no message took them within a day', async () => {
    const unsent = await upload(bob, general, await png(), 'forgotten.png');
    const kept = await upload(bob, general, Buffer.from('sent'), 'sent.txt');
    await say(bob, general, 'sent one', [kept.body.id]);
    await env.deps
      .db('attachments')
      .whereIn('id', [unsent.body.id, kept.body.id])
      .update({ created_at: new Date(Date.now() - 25 * 3600_000) });
    const before = blobCount();
    expect(await sweepUnsentUploads(env.deps)).toBe(1);
    expect(await env.deps.db('attachments').whereIn('id', [unsent.body.id, kept.body.id]).pluck('id')).toEqual([kept.body.id]);
    expect(blobCount()).toBe(before - 2);
    expect(await sweepUnsentUploads(env.deps)).toBe(0);
  });

  it('are removed, bytes and all, with their message', async () => {
    const up = await upload(ann, general, await png(), 'gone.png');
    const message = await say(ann, general, 'to delete', [up.body.id]);
    const before = blobCount();
    expect((await request('DELETE', `/api/v1/messages/${message.id}`, { token: ann.token })).status).toBe(202);
    await eventually(async () => (await env.deps.db('attachments').where({ id: up.body.id })).length === 0);
    // The blobs go just after the rows' transaction commits.
    await eventually(async () => blobCount() === before - 2);
    expect((await fetch(`${app.url}${up.body.url}`, { headers: { authorization: `Bearer ${ann.token}` } })).status).toBe(404);
  });
});
