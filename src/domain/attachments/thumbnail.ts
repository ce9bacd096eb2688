// WebP previews of uploaded images. Input is untrusted: sharp refuses anything claiming more
// than 40 M pixels before decoding (decompression bombs), only the first frame of an animation
// is decoded, metadata (EXIF, GPS, ICC comments) is dropped, and any failure means "no thumbnail".
import type { Readable } from 'node:stream';
import sharp from 'sharp';

export interface Thumbnail {
  buffer: Buffer;
  width: number;
  height: number;
  content_type: 'image/webp';
}

export const THUMBNAIL_MAX = 320;
const LIMIT_INPUT_PIXELS = 40_000_000;
/** Bigger inputs are not read (the upload limit should be far below this). */
const DEFAULT_MAX_INPUT_BYTES = 64 * 1024 * 1024;
const FORMATS = new Set(['jpeg', 'png', 'gif', 'webp']);

async function readCapped(stream: Readable, maxBytes: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > maxBytes) {
      stream.destroy();
      return null;
    }
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  }
  return Buffer.concat(chunks, size);
}

/**
 * A WebP fitting inside 320x320 (never enlarged) of a jpeg/png/gif/webp/avif image, or null for
 * anything else, a broken or too-large image, or any error. Never throws.
 */
export async function makeThumbnail(input: Buffer | Readable, opts: { maxInputBytes?: number } = {}): Promise<Thumbnail | null> {
  try {
    const buf = Buffer.isBuffer(input) ? input : await readCapped(input, opts.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES);
    if (!buf || buf.length === 0) return null;
    // failOn stays at its default ('warning'), which sharp recommends for untrusted input.
    const options = { limitInputPixels: LIMIT_INPUT_PIXELS, pages: 1 } as const;
    // The header alone says the format and the declared size; decide before decoding anything.
    const meta = await sharp(buf, options).metadata();
    const avif = meta.format === 'heif' && meta.compression === 'av1';
    if (!(FORMATS.has(meta.format ?? '') || avif)) return null;
    const frameHeight = meta.pageHeight ?? meta.height ?? 0;
    if (!meta.width || !frameHeight || meta.width * frameHeight > LIMIT_INPUT_PIXELS) return null;
    const { data, info } = await sharp(buf, { ...options, autoOrient: true })
      .resize(THUMBNAIL_MAX, THUMBNAIL_MAX, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .timeout({ seconds: 10 })
      .toBuffer({ resolveWithObject: true });
    return { buffer: data, width: info.width, height: info.height, content_type: 'image/webp' };
  } catch {
    return null;
  }
}
