// fetchPreview against a real local HTTP server: redirects, the outbound guard, the time and
// size limits (the server sees the connection dropped) and per-host concurrency.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fetchPreview, USER_AGENT } from '../../src/domain/unfurl/index.js';

const OG_PAGE = `<!doctype html><html><head>
<title>Fallback</title>
<meta property="og:title" content="Local &amp; OG">
<meta property="og:description" content="A page served by the test">
<meta property="og:site_name" content="TestSite">
<meta property="og:image" content="/images/cover.png">
</head><body>hello</body></html>`;

const HUGE_TOTAL = 24 * 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

let server: http.Server;
let base: string;
const hits = new Map<string, number>();
const seenHeaders: http.IncomingHttpHeaders[] = [];
let concurrency = { active: 0, max: 0 };
let huge: { written: number; closedEarly: Promise<boolean> } | undefined;

function handle(req: http.IncomingMessage, res: http.ServerResponse) {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  seenHeaders.push(req.headers);
  const html = (body: string, type = 'text/html; charset=utf-8') => {
    res.writeHead(200, { 'content-type': type });
    res.end(body);
  };
  const redirect = /^\/r\/(\d+)$/.exec(path);
  if (redirect) {
    const n = Number(redirect[1]);
    if (n === 0) return html(OG_PAGE);
    res.writeHead(302, { location: `/r/${n - 1}` });
    return res.end();
  }
  switch (path) {
    case '/og':
      return html(OG_PAGE);
    case '/dir/page':
      return html('<head><title>Deep</title><meta property="og:image" content="img.png"></head>');
    case '/to-deep':
      res.writeHead(301, { location: `${base}/dir/page` });
      return res.end();
    case '/to-file':
      res.writeHead(302, { location: 'file:///etc/passwd' });
      return res.end();
    case '/to-credentials':
      res.writeHead(302, { location: base.replace('http://', 'http://user:pw@') + '/og' });
      return res.end();
    case '/no-title':
      return html('<head><meta property="og:description" content="untitled"></head>');
    case '/json':
      return html(JSON.stringify({ html: OG_PAGE }), 'application/json');
    case '/png':
      return html(OG_PAGE, 'image/png');
    case '/untyped':
      res.writeHead(200);
      return res.end(OG_PAGE);
    case '/xhtml':
      return html(OG_PAGE, 'application/xhtml+xml');
    case '/latin1':
      res.writeHead(200, { 'content-type': 'text/html; charset=iso-8859-1' });
      return res.end(Buffer.from('<head><title>Caf\u00e9 \u00e0 la cr\u00e8me</title></head>', 'latin1'));
    case '/missing':
      res.writeHead(404, { 'content-type': 'text/html' });
      return res.end('<head><title>Not found</title></head>');
    case '/slow-body':
      // Headers and the start of a title at once, then nothing: the total limit must still apply.
      res.writeHead(200, { 'content-type': 'text/html' });
      res.write('<html><head><title>Slow');
      return;
    case '/no-response':
      return; // never answers
    case '/huge': {
      res.writeHead(200, { 'content-type': 'text/html' });
      const closedEarly = new Promise<boolean>((resolve) => res.on('close', () => resolve(!res.writableFinished)));
      const state = { written: 0, closedEarly };
      huge = state;
      const head = Buffer.from('<html><head><title>Big</title><meta property="og:title" content="Huge page">');
      // Past the 512 KiB the fetcher reads: must never be seen.
      const late = Buffer.from('<meta property="og:description" content="beyond the limit"></head>');
      const pump = () => {
        while (state.written < HUGE_TOTAL && !res.destroyed) {
          const chunk = state.written === 0 ? head : state.written > 600 * 1024 && state.written < 700 * 1024 ? late : CHUNK;
          state.written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        if (!res.destroyed) res.end();
      };
      return pump();
    }
    case '/headers':
      return html(`<head><title>${req.method}</title></head>`);
  }
  const concurrent = /^\/concurrent\/(\d+)$/.exec(path);
  if (concurrent) {
    concurrency.active++;
    concurrency.max = Math.max(concurrency.max, concurrency.active);
    setTimeout(() => {
      concurrency.active--;
      html(`<head><title>Page ${concurrent[1]}</title></head>`);
    }, 250);
    return;
  }
  res.writeHead(404);
  res.end();
}

beforeAll(async () => {
  server = http.createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  hits.clear();
  seenHeaders.length = 0;
});

const open = { allowPrivate: true };

describe('fetchPreview', () => {
  it('fetches and parses an Open Graph page with a polite GET', async () => {
    expect(await fetchPreview(`${base}/og`, open)).toEqual({
      url: `${base}/og`,
      title: 'Local & OG',
      description: 'A page served by the test',
      site_name: 'TestSite',
      image_url: `${base}/images/cover.png`,
    });
    expect(seenHeaders[0]).toMatchObject({ 'user-agent': USER_AGENT, accept: 'text/html' });
    expect(await fetchPreview(`${base}/headers`, open)).toMatchObject({ title: 'GET' });
  });

  it('decodes the charset the response declares', async () => {
    expect(await fetchPreview(`${base}/latin1`, open)).toMatchObject({ title: 'Café à la crème' });
  });

  it('accepts application/xhtml+xml', async () => {
    expect(await fetchPreview(`${base}/xhtml`, open)).toMatchObject({ title: 'Local & OG' });
  });

  it('follows up to 3 redirects and resolves images against the final page', async () => {
    expect(await fetchPreview(`${base}/r/3`, open)).toMatchObject({ url: `${base}/r/3`, title: 'Local & OG', image_url: `${base}/images/cover.png` });
    expect(hits.get('/r/0')).toBe(1);
    expect(await fetchPreview(`${base}/to-deep`, open)).toMatchObject({ title: 'Deep', image_url: `${base}/dir/img.png` });
  });

  it('refuses a 4th redirect without requesting its target', async () => {
    expect(await fetchPreview(`${base}/r/4`, open)).toBeNull();
    expect([...hits.keys()]).toEqual(['/r/4', '/r/3', '/r/2', '/r/1']);
  });

  it('re-checks every redirect target with the guard', async () => {
    expect(await fetchPreview(`${base}/to-file`, open)).toBeNull();
    expect(await fetchPreview(`${base}/to-credentials`, open)).toBeNull();
    expect(hits.get('/og')).toBeUndefined();
  });

  it('with allowPrivate false, refuses loopback without ever connecting', async () => {
    expect(await fetchPreview(`${base}/og`, { allowPrivate: false })).toBeNull();
    const port = new URL(base).port;
    expect(await fetchPreview(`http://localhost:${port}/og`, { allowPrivate: false })).toBeNull();
    expect(await fetchPreview(`http://[::ffff:127.0.0.1]:${port}/og`, { allowPrivate: false })).toBeNull();
    // A name that resolves to loopback (a resolver answering like a rebinding DNS server would).
    expect(
      await fetchPreview(`http://rebind.example:${port}/og`, { allowPrivate: false, resolve: async () => [{ address: '127.0.0.1', family: 4 }] }),
    ).toBeNull();
    expect(hits.size).toBe(0);
    // The same URL is fetched when private addresses are allowed: the refusal above was the guard.
    expect(await fetchPreview(`${base}/og`, open)).not.toBeNull();
    expect(hits.get('/og')).toBe(1);
  });

  it('returns null for non-HTML responses, error statuses and pages without a title', async () => {
    for (const path of ['/json', '/png', '/untyped', '/missing', '/no-title', '/nowhere']) {
      expect(await fetchPreview(`${base}${path}`, open), path).toBeNull();
    }
    expect(await fetchPreview('ftp://127.0.0.1/x', open)).toBeNull();
    expect(await fetchPreview('not a url', open)).toBeNull();
  });

  it('gives up on a page still sending after 5 s', async () => {
    const started = Date.now();
    expect(await fetchPreview(`${base}/slow-body`, open)).toBeNull();
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(4900);
    expect(elapsed).toBeLessThan(7000);
  });

  it('applies a shorter time limit to a server that never answers', async () => {
    const started = Date.now();
    expect(await fetchPreview(`${base}/no-response`, { ...open, timeoutMs: 300 })).toBeNull();
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('reads only the first 512 KiB of a huge page and drops the connection', async () => {
    const preview = await fetchPreview(`${base}/huge`, open);
    expect(preview).toMatchObject({ title: 'Huge page', description: null });
    expect(huge).toBeDefined();
    expect(await huge!.closedEarly).toBe(true);
    expect(huge!.written).toBeLessThan(HUGE_TOTAL);
  });

  it('runs at most 2 fetches per host at once', async () => {
    concurrency = { active: 0, max: 0 };
    const previews = await Promise.all([0, 1, 2, 3, 4].map((i) => fetchPreview(`${base}/concurrent/${i}`, open)));
    expect(previews.map((p) => p?.title)).toEqual(['Page 0', 'Page 1', 'Page 2', 'Page 3', 'Page 4']);
    expect(concurrency.max).toBe(2);
  });
});
