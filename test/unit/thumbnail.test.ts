// Thumbnails from real images generated with sharp; hostile inputs must give null, not a crash.
import { Readable } from 'node:stream';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { makeThumbnail } from '../../src/domain/attachments/thumbnail.js';

const solid = (width: number, height: number, background: string) => sharp({ create: { width, height, channels: 3, background } });

/** An animated GIF of 3 frames (red, green, blue), each 200x100. */
async function animatedGif(): Promise<Buffer> {
  const w = 200;
  const h = 100;
  const colors = [
    [255, 0, 0],
    [0, 255, 0],
    [0, 0, 255],
  ];
  const raw = Buffer.alloc(w * h * 3 * colors.length);
  colors.forEach((rgb, frame) => {
    for (let i = 0; i < w * h; i++) raw.set(rgb, (frame * w * h + i) * 3);
  });
  return sharp(raw, { raw: { width: w, height: h * colors.length, channels: 3, pageHeight: h } })
    .gif({ delay: [100, 100, 100], loop: 0 })
    .toBuffer();
}

/** A valid PNG header claiming `width`x`height` with a tiny (truncated) image body. */
function bombPng(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const byte of b) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(64 * 1024))), // zeros compress to almost nothing
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('makeThumbnail', () => {
  it('turns a 1000x500 png into a webp fitting 320x160, without metadata', async () => {
    const png = await solid(1000, 500, '#ff8800')
      .withMetadata({ exif: { IFD0: { Copyright: 'secret-gps-ish' } } })
      .png()
      .toBuffer();
    expect((await sharp(png).metadata()).exif).toBeDefined(); // the input really carries EXIF
    const thumb = await makeThumbnail(png);
    expect(thumb).not.toBeNull();
    expect(thumb!.content_type).toBe('image/webp');
    expect([thumb!.width, thumb!.height]).toEqual([320, 160]);
    const meta = await sharp(thumb!.buffer).metadata();
    expect(meta.format).toBe('webp');
    expect([meta.width, meta.height]).toEqual([320, 160]);
    expect(meta.exif).toBeUndefined();
  });

  it('accepts a stream, and never enlarges a small image', async () => {
    const jpeg = await solid(100, 40, '#123456').jpeg().toBuffer();
    const thumb = await makeThumbnail(Readable.from([jpeg.subarray(0, 50), jpeg.subarray(50)]));
    expect([thumb?.width, thumb?.height]).toEqual([100, 40]);
  });

  it('fits portrait images inside 320x320', async () => {
    const webp = await solid(300, 900, '#00ff00').webp().toBuffer();
    const thumb = await makeThumbnail(webp);
    expect([thumb?.width, thumb?.height]).toEqual([107, 320]);
  });

  it('uses the first frame of an animated gif', async () => {
    const gif = await animatedGif();
    expect((await sharp(gif).metadata()).pages).toBe(3);
    const thumb = await makeThumbnail(gif);
    expect(thumb).not.toBeNull();
    expect([thumb!.width, thumb!.height]).toEqual([200, 100]); // one frame, not the 200x300 strip
    const meta = await sharp(thumb!.buffer).metadata();
    expect(meta.pages ?? 1).toBe(1);
    const { data } = await sharp(thumb!.buffer).raw().toBuffer({ resolveWithObject: true });
    const [r, g, b] = data;
    expect(r).toBeGreaterThan(200); // red: frame one
    expect(g).toBeLessThan(60);
    expect(b).toBeLessThan(60);
  });

  it('returns null for garbage, empty input, non-images and a failing stream', async () => {
    expect(await makeThumbnail(Buffer.from('definitely not an image'))).toBeNull();
    expect(await makeThumbnail(Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) % 256)))).toBeNull();
    expect(await makeThumbnail(Buffer.alloc(0))).toBeNull();
    // A real PNG cut in half.
    const png = await solid(400, 400, '#abcdef').png({ compressionLevel: 0 }).toBuffer();
    expect(await makeThumbnail(png.subarray(0, png.length >> 1))).toBeNull();
    // SVG is an image to sharp but script-capable to browsers: not thumbnailed.
    expect(await makeThumbnail(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'))).toBeNull();
    const tiff = await solid(50, 50, '#000').tiff().toBuffer();
    expect(await makeThumbnail(tiff)).toBeNull();
    const failing = new Readable({
      read() {
        this.destroy(new Error('disk on fire'));
      },
    });
    expect(await makeThumbnail(failing)).toBeNull();
  });

  it('returns null, without decoding, for a decompression bomb with a huge declared size', async () => {
    const bomb = bombPng(100_000, 100_000); // 10 G pixels declared in a ~100-byte file
    expect(bomb.length).toBeLessThan(1000);
    expect((await sharp(bomb, { limitInputPixels: false }).metadata()).width).toBe(100_000); // a well-formed header
    const started = Date.now();
    expect(await makeThumbnail(bomb)).toBeNull();
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('returns null for a complete, decodable image past 40 M pixels', async () => {
    // 8000x6000 = 48 M pixels of black: ~140 KB as PNG, 144 MB decoded.
    const big = await solid(8000, 6000, '#000').png({ compressionLevel: 9 }).toBuffer();
    const control = await sharp(big, { limitInputPixels: false }).resize(320, 320, { fit: 'inside' }).toBuffer({ resolveWithObject: true });
    expect([control.info.width, control.info.height]).toEqual([320, 240]); // it is a real image
    expect(await makeThumbnail(big)).toBeNull();
  });

  it('refuses a stream larger than maxInputBytes', async () => {
    const png = await solid(64, 64, '#fff').png().toBuffer();
    expect(await makeThumbnail(Readable.from([png]), { maxInputBytes: png.length - 1 })).toBeNull();
    expect(await makeThumbnail(Readable.from([png]), { maxInputBytes: png.length })).not.toBeNull();
  });
});
