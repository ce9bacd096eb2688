// Content-type sniffing from real magic bytes (file-type), and filename sanitizing. No services.
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { downloadHeaders } from '../../src/domain/attachments/headers.js';
import { isScriptCapable, sanitizeFilename, sniffContentType } from '../../src/domain/attachments/sniff.js';

const img = (format: 'png' | 'jpeg' | 'gif' | 'webp') =>
  sharp({ create: { width: 8, height: 8, channels: 3, background: '#3366cc' } })
    .toFormat(format)
    .toBuffer();

// A minimal but real PDF header and a one-entry ZIP (local file header + central directory + end record).
const PDF = Buffer.from('%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');
function zip(): Buffer {
  const name = Buffer.from('a.txt');
  const data = Buffer.from('hello');
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(10, 4);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(name.length, 28);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + name.length, 12);
  end.writeUInt32LE(30 + name.length + data.length, 16);
  return Buffer.concat([local, name, data, central, name, end]);
}

describe('sniffContentType', () => {
  it.each(['png', 'jpeg', 'gif', 'webp'] as const)('detects a real %s whatever was declared', async (format) => {
    const bytes = await img(format);
    expect(await sniffContentType(bytes, 'text/html', 'x.html')).toBe(`image/${format}`);
    expect(await sniffContentType(bytes, undefined, 'noext')).toBe(`image/${format}`);
  });

  it('detects pdf and zip from their magic bytes', async () => {
    expect(await sniffContentType(PDF, 'application/octet-stream', 'doc.bin')).toBe('application/pdf');
    expect(await sniffContentType(zip(), 'text/plain', 'a.txt')).toBe('application/zip');
  });

  it('serves a declared html or svg body as application/octet-stream', async () => {
    const html = Buffer.from('<!doctype html><html><body><script>alert(document.cookie)</script></body></html>');
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>');
    expect(await sniffContentType(html, 'text/html', 'page.html')).toBe('application/octet-stream');
    expect(await sniffContentType(html, 'TEXT/HTML; charset=utf-8', 'page.txt')).toBe('application/octet-stream');
    expect(await sniffContentType(svg, 'image/svg+xml', 'logo.svg')).toBe('application/octet-stream');
    // A harmless claim does not launder a dangerous name, nor the reverse.
    expect(await sniffContentType(svg, 'text/plain', 'logo.svg')).toBe('application/octet-stream');
    expect(await sniffContentType(html, 'application/xhtml+xml', 'x.txt')).toBe('application/octet-stream');
    expect(await sniffContentType(html, 'application/javascript', 'x.txt')).toBe('application/octet-stream');
  });

  it('calls valid UTF-8 without NULs text/plain (keeping a declared safe text type)', async () => {
    const text = Buffer.from('Hello, wörld — ünïcödé ✓ 🎉\nline two\n');
    expect(await sniffContentType(text, undefined, 'notes')).toBe('text/plain');
    expect(await sniffContentType(text, 'image/png', 'notes.png')).toBe('text/plain');
    expect(await sniffContentType(Buffer.from('a,b\n1,2\n'), 'text/csv', 'data.csv')).toBe('text/csv');
    // A head that ends inside a multi-byte character is still text.
    const cut = Buffer.from('ab✓'.repeat(10)).subarray(0, 3 * 10 + 2 * 10 - 1);
    expect(await sniffContentType(cut, undefined, 'cut.txt')).toBe('text/plain');
  });

  it('calls binary junk application/octet-stream', async () => {
    const junk = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919 + 13) % 256));
    expect(await sniffContentType(junk, 'image/png', 'x.png')).toBe('application/octet-stream');
    expect(await sniffContentType(Buffer.from('text\0with nul'), 'text/plain', 'x.txt')).toBe('application/octet-stream');
    expect(await sniffContentType(Buffer.from([0xc3, 0x28, 0x41]), 'text/plain', 'x.txt')).toBe('application/octet-stream');
  });

  it('classifies script-capable types without catching office formats', () => {
    for (const t of ['text/html', 'image/svg+xml', 'application/rss+xml', 'text/xml', 'multipart/x-mixed-replace', 'text/vbscript']) {
      expect(isScriptCapable(t), t).toBe(true);
    }
    for (const t of ['application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'image/png', 'text/plain', 'application/pdf']) {
      expect(isScriptCapable(t), t).toBe(false);
    }
  });
});

describe('sanitizeFilename', () => {
  it.each([
    ['../../etc/passwd', 'passwd'],
    ['C:\\x\\y.txt', 'y.txt'],
    ['/abs/path/report.pdf', 'report.pdf'],
    ['..', 'file'],
    ['', 'file'],
    ['   ', 'file'],
    ['.bashrc', 'bashrc'],
    ['a\u0000b\u0007c\u001b[31m.txt', 'abc[31m.txt'],
    ['line\nbreak\r\t.txt', 'linebreak.txt'],
    ['invoice\u202efdp.exe', 'invoicefdp.exe'],
    ['\u2067evil\u2069\u200f.txt', 'evil.txt'],
    ['zero\u200bwidth\ufeff.txt', 'zerowidth.txt'],
    ['CON', '_CON'],
    ['nul.txt', '_nul.txt'],
    ['com1.tar.gz', '_com1.tar.gz'],
    ['console.txt', 'console.txt'],
    ['what?<is>*this*|.txt', 'what__is__this__.txt'],
    ['trailing dots...', 'trailing dots'],
    ['  spaced   out  name .md ', 'spaced out name .md'],
    ['Ünïcödé 日本語.txt', 'Ünïcödé 日本語.txt'],
  ])('%j → %j', (input, expected) => {
    expect(sanitizeFilename(input)).toBe(expected);
  });

  it('trims 300-byte names to 200 bytes keeping the extension', () => {
    const ascii = sanitizeFilename(`${'a'.repeat(296)}.pdf`);
    expect(Buffer.byteLength(ascii)).toBe(200);
    expect(ascii).toBe(`${'a'.repeat(196)}.pdf`);

    const wide = sanitizeFilename(`${'é'.repeat(150)}.txt`); // 300 bytes + 4
    expect(Buffer.byteLength(wide)).toBeLessThanOrEqual(200);
    expect(wide.endsWith('.txt')).toBe(true);
    expect(wide).toBe(`${'é'.repeat(98)}.txt`); // no half character

    const emoji = sanitizeFilename(`${'🎉'.repeat(75)}.jpeg`);
    expect(Buffer.byteLength(emoji)).toBeLessThanOrEqual(200);
    expect(emoji).toMatch(/^(🎉)+\.jpeg$/u);

    // An absurd "extension" is not kept whole.
    const noExt = sanitizeFilename(`x.${'b'.repeat(300)}`);
    expect(Buffer.byteLength(noExt)).toBe(200);
  });

  it('drops lone surrogates', () => {
    expect(sanitizeFilename('a\ud800b.txt')).toBe('ab.txt');
  });
});

describe('downloadHeaders', () => {
  it('forces attachment, nosniff and a sandbox for anything but raster images', () => {
    const h = downloadHeaders({ filename: 'naïve "report" 100%.txt', content_type: 'text/plain', size: 12 }, 'inline');
    expect(h).toEqual({
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': '12',
      'Content-Disposition': `attachment; filename="na_ve _report_ 100_.txt"; filename*=UTF-8''na%C3%AFve%20_report_%20100%25.txt`,
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'none'; sandbox",
    });
  });

  it('allows inline for images only when asked', () => {
    const att = { filename: "it's (a) pic*.png", content_type: 'image/png', size: 5 };
    expect(downloadHeaders(att, 'inline')['Content-Disposition']).toBe(`inline; filename="it's (a) pic_.png"; filename*=UTF-8''it%27s%20%28a%29%20pic_.png`);
    expect(downloadHeaders(att)['Content-Disposition']).toMatch(/^attachment;/);
    expect(downloadHeaders({ ...att, content_type: 'image/svg+xml' }, 'inline')['Content-Disposition']).toMatch(/^attachment;/);
  });
});
