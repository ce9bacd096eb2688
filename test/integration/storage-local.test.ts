// LocalDiskStore on a real temporary directory: round trips, size cap, atomicity, key safety.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError, PayloadTooLargeError, ValidationError } from '../../src/errors.js';
import { createBlobStore, LocalDiskStore } from '../../src/infra/storage/index.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const chunked = (b: Buffer, size = 64 * 1024) =>
  Readable.from(Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size)));
async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}
/** Every file under `dir`, relative (temp files included). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}
const opts = (maxBytes: number) => ({ contentType: 'application/octet-stream', maxBytes });

describe('LocalDiskStore', () => {
  let base: string;
  let root: string;
  let store: LocalDiskStore;

  beforeEach(async () => {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'fechatter-storage-'));
    root = path.join(base, 'files');
    store = new LocalDiskStore(root);
  });
  afterEach(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  it('puts, gets and deletes, reporting size and sha256', async () => {
    const body = randomBytes(1024 * 1024 + 17);
    const key = 'ws/0190a0b0-0000-7000-8000-000000000001/0190a0b0-0000-7000-8000-0000000000aa';
    const put = await store.put(key, chunked(body), opts(2 * 1024 * 1024));
    expect(put).toEqual({ size: body.length, sha256: sha256(body) });
    expect(await filesUnder(root)).toEqual([key]); // no temp file left

    const got = await store.get(key);
    expect(got.size).toBe(body.length);
    expect((await readAll(got.stream)).equals(body)).toBe(true);

    await store.delete(key);
    await expect(store.get(key)).rejects.toBeInstanceOf(NotFoundError);
    await store.delete(key); // idempotent
    await expect(store.get('ws/never/was')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('stores an empty blob and a blob of exactly maxBytes', async () => {
    expect(await store.put('ws/a/empty', Readable.from([]), opts(10))).toEqual({ size: 0, sha256: sha256(Buffer.alloc(0)) });
    expect((await store.get('ws/a/empty')).size).toBe(0);
    const exact = randomBytes(1000);
    expect((await store.put('ws/a/exact', chunked(exact, 100), opts(1000))).size).toBe(1000);
  });

  it('replaces an existing blob', async () => {
    await store.put('ws/a/k', Readable.from([Buffer.from('first version')]), opts(100));
    await store.put('ws/a/k', Readable.from([Buffer.from('second')]), opts(100));
    const got = await store.get('ws/a/k');
    expect([got.size, (await readAll(got.stream)).toString()]).toEqual([6, 'second']);
  });

  it('aborts an over-size put, leaving no file or temp file and the previous blob intact', async () => {
    await expect(store.put('ws/a/big', chunked(randomBytes(5000), 1000), opts(4999))).rejects.toBeInstanceOf(PayloadTooLargeError);
    await expect(store.get('ws/a/big')).rejects.toBeInstanceOf(NotFoundError);
    expect(await filesUnder(root)).toEqual([]);

    await store.put('ws/a/kept', Readable.from([Buffer.from('old')]), opts(10));
    const err = await store.put('ws/a/kept', chunked(randomBytes(50), 7), opts(10)).catch((e) => e);
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect(err.status).toBe(413);
    expect((await readAll((await store.get('ws/a/kept')).stream)).toString()).toBe('old');
    expect(await filesUnder(root)).toEqual(['ws/a/kept']);
  });

  it('stops reading an endless source at the cap, and leaves it paused, not destroyed', async () => {
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 1024;
        this.push(Buffer.alloc(1024, 1));
      },
    });
    await expect(store.put('ws/a/endless', endless, opts(64 * 1024))).rejects.toBeInstanceOf(PayloadTooLargeError);
    expect(endless.destroyed).toBe(false); // the caller (an HTTP handler) still owns it
    expect(endless.isPaused()).toBe(true);
    expect(produced).toBeLessThan(1024 * 1024);
    expect(await filesUnder(root)).toEqual([]);
    endless.destroy();
  });

  it('fails, leaving nothing, when the source errors or closes early', async () => {
    const failing = new Readable({ read() {} });
    failing.push(Buffer.alloc(100));
    setTimeout(() => failing.destroy(new Error('client went away')), 10);
    await expect(store.put('ws/a/e1', failing, opts(1000))).rejects.toThrow('client went away');

    const closed = new Readable({ read() {} });
    closed.push(Buffer.alloc(100));
    setTimeout(() => closed.destroy(), 10);
    await expect(store.put('ws/a/e2', closed, opts(1000))).rejects.toThrow(/premature close/i);
    expect(await filesUnder(root)).toEqual([]);
  });

  it.each([
    '../escape',
    'ws/../../escape',
    'ws/a/..',
    '/etc/passwd',
    'ws\\..\\..\\escape',
    'C:\\Windows\\x',
    'C:/x',
    '',
    'ws//a',
    'ws/a/',
    'ws/./a',
    '.tmp/x',
    'ws/.hidden',
    'ws/a\u0000b',
    'ws/%2e%2e/x',
    'ws/a b',
  ])('refuses the key %j for put, get and delete', async (key) => {
    await expect(store.put(key, Readable.from([Buffer.from('x')]), opts(10))).rejects.toBeInstanceOf(ValidationError);
    await expect(store.get(key)).rejects.toBeInstanceOf(ValidationError);
    await expect(store.delete(key)).rejects.toBeInstanceOf(ValidationError);
    expect((await fs.readdir(base)).filter((n) => n !== 'files')).toEqual([]); // nothing beside the root
    expect(await filesUnder(base)).toEqual([]);
  });

  it('handles concurrent puts of different keys (and of one key, atomically)', async () => {
    const bodies = Array.from({ length: 24 }, (_, i) => randomBytes(20_000 + i * 997));
    const results = await Promise.all(bodies.map((b, i) => store.put(`ws/w${i % 3}/k${i}`, chunked(b, 4096), opts(100_000))));
    results.forEach((r, i) => expect(r).toEqual({ size: bodies[i].length, sha256: sha256(bodies[i]) }));
    const read = await Promise.all(bodies.map(async (_, i) => readAll((await store.get(`ws/w${i % 3}/k${i}`)).stream)));
    read.forEach((r, i) => expect(r.equals(bodies[i])).toBe(true));

    // Racing writers of one key: the survivor is one whole body, never a mix.
    await Promise.all(bodies.slice(0, 8).map((b) => store.put('ws/same/key', chunked(b, 1024), opts(100_000))));
    const winner = await readAll((await store.get('ws/same/key')).stream);
    expect(bodies.slice(0, 8).some((b) => b.equals(winner))).toBe(true);
    expect((await filesUnder(root)).filter((f) => f.startsWith('.tmp'))).toEqual([]);
  });
});

describe('createBlobStore', () => {
  it('defaults to local disk under DATA_DIR/files', () => {
    const store = createBlobStore({ DATA_DIR: '/srv/fechatter-data' });
    expect(store).toBeInstanceOf(LocalDiskStore);
    expect((store as LocalDiskStore).root).toBe(path.resolve('/srv/fechatter-data/files'));
  });

  it('refuses an incomplete s3 configuration', () => {
    expect(() => createBlobStore({ DATA_DIR: '.', STORAGE_DRIVER: 's3', S3_REGION: 'eu-west-1' })).toThrow(/S3_BUCKET/);
    expect(() => createBlobStore({ DATA_DIR: '.', STORAGE_DRIVER: 's3', S3_BUCKET: 'b', S3_REGION: 'r', S3_ACCESS_KEY_ID: 'only-one' })).toThrow(/together/);
  });
});
