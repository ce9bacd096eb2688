// Blob storage for attachments: one small interface, a local-disk and an S3 implementation.
// Keys are server-generated (`ws/<workspace>/<uuid>`), never a client's filename; both stores
// still refuse anything that could escape their namespace (assertBlobKey).
import path from 'node:path';
import type { Readable } from 'node:stream';
import { LocalDiskStore } from './local.js';
import { S3Store } from './s3.js';

export interface PutOptions {
  contentType: string;
  /** The put fails with PayloadTooLargeError once the stream passes this many bytes. */
  maxBytes: number;
}

export interface PutResult {
  size: number;
  /** Hex SHA-256 of the stored bytes. */
  sha256: string;
}

export interface BlobStore {
  /**
   * Streams `stream` to `key` (replacing any blob there). Past `opts.maxBytes` it rejects with
   * PayloadTooLargeError and stores nothing. The caller owns `stream`: put never destroys it
   * (on failure it is unpiped and paused), so an HTTP handler can still answer 413.
   */
  put(key: string, stream: Readable, opts: PutOptions): Promise<PutResult>;
  /** NotFoundError('file') when there is no blob at `key`. */
  get(key: string): Promise<{ stream: Readable; size: number }>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
}

/** The config variables of the same names (the lead wires `config` straight in). */
export interface BlobStoreConfig {
  STORAGE_DRIVER?: 'local' | 's3';
  /** Local driver: blobs live under DATA_DIR/files. */
  DATA_DIR: string;
  S3_BUCKET?: string;
  S3_REGION?: string;
  S3_ENDPOINT?: string;
  S3_FORCE_PATH_STYLE?: boolean;
  S3_ACCESS_KEY_ID?: string;
  S3_SECRET_ACCESS_KEY?: string;
}

export function createBlobStore(config: BlobStoreConfig): BlobStore {
  if ((config.STORAGE_DRIVER ?? 'local') === 'local') return new LocalDiskStore(path.resolve(config.DATA_DIR, 'files'));
  const missing = (['S3_BUCKET', 'S3_REGION'] as const).filter((k) => !config[k]);
  if (missing.length) throw new Error(`STORAGE_DRIVER=s3 needs ${missing.join(', ')}`);
  // Both keys or neither: without them the SDK's default chain (env, profile, instance role) applies.
  if (!config.S3_ACCESS_KEY_ID !== !config.S3_SECRET_ACCESS_KEY) {
    throw new Error('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together');
  }
  return new S3Store({
    bucket: config.S3_BUCKET!,
    region: config.S3_REGION!,
    endpoint: config.S3_ENDPOINT || undefined,
    forcePathStyle: config.S3_FORCE_PATH_STYLE ?? false,
    credentials: config.S3_ACCESS_KEY_ID ? { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY! } : undefined,
  });
}

export { LocalDiskStore } from './local.js';
export { S3Store, type S3StoreOptions } from './s3.js';
export { assertBlobKey } from './meter.js';
