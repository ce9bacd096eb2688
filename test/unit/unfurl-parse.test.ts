// Link preview parsing: Open Graph first, <title>/description fallbacks, entities, caps, and
// og:image resolved against the page and refused unless http(s).
import { describe, expect, it } from 'vitest';
import { decodeBody, decodeEntities, detectCharset, parsePreview, PREVIEW_LIMITS } from '../../src/domain/unfurl/index.js';

const page = (head: string, body = '') => `<!doctype html><html><head>${head}</head><body>${body}</body></html>`;
const URL_ = 'https://news.example/articles/42?ref=chat';

describe('parsePreview', () => {
  it('reads Open Graph tags', () => {
    const html = page(`
      <title>Fallback title</title>
      <meta property="og:title" content="The real title">
      <meta property='og:description' content='What it is about'>
      <meta property=og:site_name content=NewsSite>
      <meta content="https://cdn.example/i.png" property="og:image" />
      <meta name="description" content="plain description">`);
    expect(parsePreview(html, URL_)).toEqual({
      url: URL_,
      title: 'The real title',
      description: 'What it is about',
      site_name: 'NewsSite',
      image_url: 'https://cdn.example/i.png',
    });
  });

  it('falls back to <title> and meta description', () => {
    const html = page('<TITLE>\n  Just a   page\n</TITLE><META NAME="Description" CONTENT="About  this\npage">');
    expect(parsePreview(html, URL_)).toEqual({ url: URL_, title: 'Just a page', description: 'About this page', site_name: null, image_url: null });
  });

  it('falls back to twitter tags before <title>', () => {
    const html = page('<title>t</title><meta name="twitter:title" content="Tw title"><meta name="twitter:image" content="/tw.jpg">');
    expect(parsePreview(html, URL_)).toMatchObject({ title: 'Tw title', image_url: 'https://news.example/tw.jpg' });
  });

  it('returns null for a page without a title', () => {
    expect(parsePreview(page('<meta property="og:description" content="no title here">'), URL_)).toBeNull();
    expect(parsePreview(page('<title>   </title><meta property="og:title" content="">'), URL_)).toBeNull();
    expect(parsePreview('', URL_)).toBeNull();
    expect(parsePreview('not html at all', URL_)).toBeNull();
  });

  it('decodes entities in content and title', () => {
    const html = page(
      '<title>Tom &amp; Jerry &#8212; &#x1F600; &copy;</title><meta property="og:description" content="&quot;Quoted&quot; &lt;b&gt;not bold&lt;/b&gt; caf&eacute; &unknown; &#0;">',
    );
    expect(parsePreview(html, URL_)).toMatchObject({ title: 'Tom & Jerry — 😀 ©', description: '"Quoted" <b>not bold</b> café &unknown; \ufffd' });
    expect(decodeEntities('&amp;lt;')).toBe('&lt;');
  });

  it('caps lengths without splitting characters', () => {
    const html = page(
      `<meta property="og:title" content="${'t'.repeat(400)}"><meta property="og:description" content="${'😀'.repeat(1200)}"><meta property="og:site_name" content="${'s'.repeat(150)}">`,
    );
    const preview = parsePreview(html, URL_)!;
    expect(preview.title).toBe('t'.repeat(PREVIEW_LIMITS.title));
    expect(Array.from(preview.description!)).toHaveLength(PREVIEW_LIMITS.description);
    expect(preview.description!.endsWith('😀')).toBe(true);
    expect(preview.site_name).toHaveLength(PREVIEW_LIMITS.site_name);
  });

  it('resolves a relative og:image against the page URL it was fetched from', () => {
    const html = (image: string) => page(`<title>x</title><meta property="og:image" content="${image}">`);
    expect(parsePreview(html('/img/a.png'), URL_)!.image_url).toBe('https://news.example/img/a.png');
    expect(parsePreview(html('b.png'), URL_)!.image_url).toBe('https://news.example/articles/b.png');
    expect(parsePreview(html('//cdn.example/c.png'), URL_)!.image_url).toBe('https://cdn.example/c.png');
    expect(parsePreview(html('/d.png?a=1&amp;b=2'), URL_)!.image_url).toBe('https://news.example/d.png?a=1&b=2');
    // After a redirect the page URL differs from the link: relative images follow the page.
    expect(parsePreview(html('e.png'), 'http://short.example/x', 'https://long.example/dir/page')).toMatchObject({
      url: 'http://short.example/x',
      image_url: 'https://long.example/dir/e.png',
    });
  });

  it('refuses non-http images', () => {
    const html = (image: string) => page(`<title>x</title><meta property="og:image" content="${image}">`);
    for (const image of [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      '&#106;avascript:alert(1)',
      'data:image/png;base64,AAAA',
      'file:///etc/passwd',
      'ftp://files.example/a.png',
      'https://user:pw@cdn.example/a.png',
      '',
    ]) {
      expect(parsePreview(html(image), URL_)!.image_url, image).toBeNull();
    }
    // The first usable image wins over a refused one.
    expect(
      parsePreview(
        page('<title>x</title><meta property="og:image" content="data:x"><meta property="og:image:secure_url" content="https://cdn.example/ok.png">'),
        URL_,
      )!.image_url,
    ).toBe('https://cdn.example/ok.png');
  });

  it('ignores tags in comments, scripts and after </head>', () => {
    const html = page(
      '<!-- <meta property="og:title" content="commented"> --><script>var s = \'<meta property="og:title" content="scripted">\';</script><title>Real</title>',
      '<meta property="og:description" content="in body">',
    );
    expect(parsePreview(html, URL_)).toMatchObject({ title: 'Real', description: null });
  });

  it('keeps markup in fields as text (the client renders it as text)', () => {
    const html = page('<meta property="og:title" content="&lt;script&gt;alert(1)&lt;/script&gt; a > b">');
    expect(parsePreview(html, URL_)!.title).toBe('<script>alert(1)</script> a > b');
  });
});

describe('charset', () => {
  it('comes from the header, then a meta tag, else utf-8', () => {
    expect(detectCharset('text/html; charset=ISO-8859-1', Buffer.from(''))).toBe('windows-1252');
    expect(detectCharset('text/html', Buffer.from('<meta charset="shift_jis">'))).toBe('shift_jis');
    expect(detectCharset(undefined, Buffer.from('<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">'))).toBe('koi8-r');
    expect(detectCharset('text/html; charset=bogus', Buffer.from(''))).toBe('utf-8');
    expect(detectCharset('text/html', Buffer.from('<meta charset="utf-16">'))).toBe('utf-8');
    expect(detectCharset(undefined, Buffer.from('<p>nothing</p>'))).toBe('utf-8');
  });

  it('decodes the body in that charset', () => {
    const latin1 = Buffer.from(page('<title>Caf\u00e9 cr\u00e8me</title>'), 'latin1');
    expect(parsePreview(decodeBody(latin1, 'text/html; charset=iso-8859-1'), URL_)!.title).toBe('Café crème');
    const withMeta = Buffer.concat([Buffer.from('<meta charset="windows-1252"><title>'), Buffer.from([0x93, 0x71, 0x94]), Buffer.from('</title>')]);
    expect(parsePreview(decodeBody(withMeta, 'text/html'), URL_)!.title).toBe('“q”');
    expect(decodeBody(Buffer.from([0x80, 0x81, 0x9f, 0xe9]), 'text/html; charset=windows-1252')).toBe('€\u0081Ÿé');
    expect(parsePreview(decodeBody(Buffer.from(page('<title>Ünïcödé ✓</title>')), 'text/html'), URL_)!.title).toBe('Ünïcödé ✓');
  });
});
