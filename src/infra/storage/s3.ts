// Blobs as S3 objects (AWS or a compatible server: MinIO, R2, ...). @aws-sdk/lib-storage is not
// installed, and PutObject needs a known ContentLength, so a put collects the stream in memory,
// capped at maxBytes (the copy fails as soon as the cap is passed), then sends one PutObject.
// Memory per upload is therefore up to maxBytes; uploads larger than S3's 5 GiB single-PUT limit
// would need multipart (lib-storage), which the attachment size limit keeps us far from.
import { DeleteObjectCommand, GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { type Readable, Writable } from 'node:stream';
import { NotFoundError } from '../../errors.js';
import type { BlobStore, PutOptions, PutResult } from './index.js';
import { assertBlobKey, copyMetered } from './meter.js';

export interface S3StoreOptions {
  bucket: string;
  region: string;
  /** A non-AWS endpoint, e.g. http://127.0.0.1:9000 for MinIO. */
  endpoint?: string;
  /** `bucket` in the path instead of the host name (MinIO and most self-hosted servers). */
  forcePathStyle?: boolean;
  /** Omitted: the SDK's default chain (environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Collects written chunks; the Meter in front of it enforces the size cap. */
class Collector extends Writable {
  readonly chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.chunks.push(chunk);
    done();
  }
}

export class S3Store implements BlobStore {
  readonly client: S3Client;
  readonly bucket: string;

  constructor(opts: S3StoreOptions) {
    this.bucket = opts.bucket;
    this.client = new S3Client({
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
      credentials: opts.credentials,
      // Compatible servers do not all accept the SDK's default extra CRC checksum headers.
      ...(opts.endpoint ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' } : {}),
    });
  }

  async put(key: string, stream: Readable, opts: PutOptions): Promise<PutResult> {
    assertBlobKey(key);
    const collector = new Collector();
    const result = await copyMetered(stream, opts.maxBytes, collector);
    const body = Buffer.concat(collector.chunks, result.size);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        ContentLength: result.size,
        ContentType: opts.contentType,
      }),
    );
    return result;
  }

  async get(key: string): Promise<{ stream: Readable; size: number }> {
    assertBlobKey(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      // In Node the SDK's body is an http.IncomingMessage (a Readable).
      return { stream: res.Body as Readable, size: Number(res.ContentLength ?? 0) };
    } catch (err) {
      if (err instanceof NoSuchKey || (err instanceof S3ServiceException && err.$metadata?.httpStatusCode === 404)) {
        throw new NotFoundError('file');
      }
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }
}
