// Shared by both stores: key validation and the size-capped, hashing copy from a caller's stream.
import { createHash } from 'node:crypto';
import { finished, Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PayloadTooLargeError, ValidationError } from '../../errors.js';
import type { PutResult } from './index.js';

// Segments of [A-Za-z0-9._-] not starting with a dot: no `..`, no absolute paths, no
// backslashes or drive letters, and the dot-prefixed names stay free for the stores' own use.
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Throws ValidationError unless `key` is a relative, slash-separated path of safe segments. */
export function assertBlobKey(key: string): void {
  const ok = typeof key === 'string' && key.length > 0 && key.length <= 1024 && key.split('/').every((s) => SEGMENT.test(s));
  if (!ok) throw new ValidationError('Invalid storage key.', [{ key: String(key).slice(0, 100) }]);
}

class Meter extends Transform {
  size = 0;
  private readonly hash = createHash('sha256');
  constructor(private readonly maxBytes: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.maxBytes) return done(new PayloadTooLargeError(this.maxBytes));
    this.hash.update(chunk);
    done(null, chunk);
  }
  result(): PutResult {
    return { size: this.size, sha256: this.hash.digest('hex') };
  }
}

/**
 * Copies `source` into `sink`, counting and hashing, and fails with PayloadTooLargeError past
 * `maxBytes` (the sink is destroyed; the source is unpiped and paused, not destroyed). A source
 * that errors or closes before its end fails the copy too.
 */
export async function copyMetered(source: Readable, maxBytes: number, sink: Writable): Promise<PutResult> {
  const meter = new Meter(maxBytes);
  const stopWatching = finished(source, { writable: false }, (err) => {
    if (err) meter.destroy(err);
  });
  source.pipe(meter);
  try {
    await pipeline(meter, sink);
    return meter.result();
  } finally {
    stopWatching();
    source.unpipe(meter);
    if (!source.readableEnded) source.pause();
  }
}
