// Blobs as files under one root directory (default DATA_DIR/files). A put writes to
// <root>/.tmp/<uuid> and renames into place, so readers never see a partial file and a failed
// or over-size put leaves nothing behind. Keys cannot start a segment with a dot (assertBlobKey),
// so `.tmp` is never a key; files left there by a crash can be deleted at any time.
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../../errors.js';
import type { BlobStore, PutOptions, PutResult } from './index.js';
import { assertBlobKey, copyMetered } from './meter.js';

export class LocalDiskStore implements BlobStore {
  readonly root: string;
  private readonly tmpDir: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.tmpDir = path.join(this.root, '.tmp');
  }

  /** The file for `key`; checked twice (key syntax, then the resolved path stays under root). */
  private file(key: string): string {
    assertBlobKey(key);
    const file = path.resolve(this.root, key);
    if (!file.startsWith(this.root + path.sep)) throw new Error(`storage key escapes the root: ${key}`);
    return file;
  }

  async put(key: string, stream: Readable, opts: PutOptions): Promise<PutResult> {
    const file = this.file(key);
    await fs.mkdir(this.tmpDir, { recursive: true });
    const tmp = path.join(this.tmpDir, randomUUID());
    try {
      // flush: fsync before close, so the rename below never publishes a file the disk lacks.
      const result = await copyMetered(stream, opts.maxBytes, createWriteStream(tmp, { flags: 'wx', flush: true }));
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.rename(tmp, file);
      return result;
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<{ stream: Readable; size: number }> {
    const file = this.file(key);
    // Open first, then stat the handle: a concurrent delete or replace cannot split size from bytes.
    const handle = await fs.open(file, 'r').catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' || err.code === 'EISDIR' || err.code === 'ENOTDIR' ? new NotFoundError('file') : err;
    });
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new NotFoundError('file');
      return { stream: handle.createReadStream(), size: stat.size };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.file(key), { force: true });
  }
}
