// Message markdown: the supported subset renders to exact HTML, disabled syntax stays text, and
// no payload in the XSS corpus gets a script, event handler, style or unsafe link through.
import { describe, expect, it } from 'vitest';
import { extractLinks, renderMarkdown, renderParsed } from '../../src/domain/markdown.js';

const A = 'rel="noopener noreferrer nofollow" target="_blank"';

describe('renderMarkdown: supported syntax', () => {
  const cases: Array<[string, string]> = [
    ['**bold** *em* _em_ ~~gone~~ `code`', '<p><strong>bold</strong> <em>em</em> <em>em</em> <s>gone</s> <code>code</code></p>'],
    ['line one\nline two', '<p>line one<br />\nline two</p>'],
    ['first\n\nsecond', '<p>first</p>\n<p>second</p>'],
    ['[docs](https://example.com/a?b=1&c=2)', `<p><a href="https://example.com/a?b=1&amp;c=2" ${A}>docs</a></p>`],
    ['see https://example.com/x.', `<p>see <a href="https://example.com/x" ${A}>https://example.com/x</a>.</p>`],
    ['<https://example.com>', `<p><a href="https://example.com" ${A}>https://example.com</a></p>`],
    ['write to bob@example.com', `<p>write to <a href="mailto:bob@example.com" ${A}>bob@example.com</a></p>`],
    ['```ts\nconst a = 1 < 2;\n```', '<pre><code class="language-ts">const a = 1 &lt; 2;\n</code></pre>'],
    ['```\nplain\n```', '<pre><code>plain\n</code></pre>'],
    ['    indented code', '<pre><code>indented code\n</code></pre>'],
    ['- a\n- b', '<ul>\n<li>a</li>\n<li>b</li>\n</ul>'],
    ['1. x\n2. y', '<ol>\n<li>x</li>\n<li>y</li>\n</ol>'],
    ['> quoted *text*', '<blockquote>\n<p>quoted <em>text</em></p>\n</blockquote>'],
    ['hi @bob and @channel', '<p>hi @bob and @channel</p>'],
    ['`https://in.code` and\n```\nhttps://in.block\n```', '<p><code>https://in.code</code> and</p>\n<pre><code>https://in.block\n</code></pre>'],
  ];
  it.each(cases)('%j', (input, html) => {
    expect(renderMarkdown(input)).toBe(html);
  });

  it('keeps only language classes that look like a language on code blocks', () => {
    expect(renderMarkdown('```c++\nx\n```')).toBe('<pre><code class="language-c++">x\n</code></pre>');
    expect(renderMarkdown('```A-Very-Long-Language-Name-Indeed\nx\n```')).toBe('<pre><code>x\n</code></pre>');
    expect(renderMarkdown('```js"onmouseover="alert(1)\nx\n```')).toBe('<pre><code>x\n</code></pre>');
  });
});

describe('renderMarkdown: disabled syntax is text', () => {
  const cases: Array<[string, string]> = [
    ['# Heading', '<p># Heading</p>'],
    ['Title\n===', '<p>Title<br />\n===</p>'],
    ['| a | b |\n|---|---|\n| 1 | 2 |', '<p>| a | b |<br />\n|---|---|<br />\n| 1 | 2 |</p>'],
    ['![alt](https://example.com/i.png)', '<p>![alt](https://example.com/i.png)</p>'],
    ['<b>bold</b> <i>x</i>', '<p>&lt;b&gt;bold&lt;/b&gt; &lt;i&gt;x&lt;/i&gt;</p>'],
    ['<div>\nblock\n</div>', '<p>&lt;div&gt;<br />\nblock<br />\n&lt;/div&gt;</p>'],
    ['---', '<p>---</p>'],
    ['[relative](/etc/passwd)', '<p><span>relative</span></p>'],
  ];
  it.each(cases)('%j', (input, html) => {
    expect(renderMarkdown(input)).toBe(html);
  });
});

const ALLOWED_TAGS = new Set(['p', 'br', 'strong', 'em', 's', 'del', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'a', 'span']);
const ALLOWED_ATTRIBUTES: Record<string, string[]> = { a: ['href', 'rel', 'target'], code: ['class'] };
const TAG = /<\/?([a-zA-Z][^\s/>]*)([^>]*)>/g;
const ATTRIBUTE = /\s*([^\s=]+)="([^"]*)"/y;
const decode = (text: string) =>
  text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (e[0] !== '#') return named[e.toLowerCase()];
    return String.fromCodePoint(e[1].toLowerCase() === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
  });

/** Every problem with the output's tags; [] when it is safe. */
function problems(html: string): string[] {
  const found: string[] = [];
  if (/<script/i.test(html)) found.push('<script');
  if (/<(?![a-zA-Z/])/.test(html.replace(TAG, ''))) found.push('a stray < outside a tag');
  for (const [, rawName, rawAttributes] of html.matchAll(TAG)) {
    const name = rawName.toLowerCase();
    if (!ALLOWED_TAGS.has(name)) found.push(`tag ${name}`);
    const attributes = rawAttributes.replace(/\s*\/$/, '');
    if (/\bon\w+\s*=/i.test(attributes)) found.push(`event handler on ${name}`);
    if (/\bstyle\s*=/i.test(attributes)) found.push(`style on ${name}`);
    ATTRIBUTE.lastIndex = 0;
    let match: RegExpExecArray | null;
    let consumed = 0;
    while ((match = ATTRIBUTE.exec(attributes))) {
      consumed = ATTRIBUTE.lastIndex;
      const [, attribute, value] = match;
      if (!(ALLOWED_ATTRIBUTES[name] ?? []).includes(attribute)) found.push(`attribute ${attribute} on ${name}`);
      if (attribute === 'href' && !/^(https?:\/\/|mailto:)/i.test(decode(value))) found.push(`href ${value}`);
      if (attribute === 'class' && !/^language-[a-z0-9+#-]{1,20}$/.test(value)) found.push(`class ${value}`);
    }
    if (attributes.slice(consumed).trim() !== '') found.push(`unparsed attributes on ${name}: ${attributes.slice(consumed)}`);
  }
  return found;
}

describe('renderMarkdown: XSS corpus', () => {
  const corpus = [
    '<script>alert(1)</script>',
    '<SCRIPT SRC=http://evil.example/x.js></SCRIPT>',
    '<scr<script>ipt>alert(1)</scr</script>ipt>',
    '<img src=x onerror=alert(1)>',
    '<IMG SRC="javascript:alert(1)">',
    '<svg onload=alert(1)>',
    '<svg><script>alert(1)</script></svg>',
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<body onload=alert(1)>',
    '<details open ontoggle=alert(1)>',
    '<xss onafterscriptexecute=alert(1)><script>1</script>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="http://ok.example" onclick="alert(1)">x</a>',
    '<a href="http://ok.example" style="position:fixed;top:0">x</a>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="data:image/svg+xml,<svg onload=alert(1)>">',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<div style="width: expression(alert(1))">x</div>',
    '<style>body{background:url("javascript:alert(1)")}</style>',
    '<link rel=stylesheet href=http://evil.example/x.css>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<form action="javascript:alert(1)"><input type=submit></form>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '<template><script>alert(1)</script></template>',
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    '*<img src=x onerror=alert(1)>*',
    '> <script>alert(1)</script>',
    '[x](javascript:alert(1))',
    '[x](JaVaScRiPt:alert(1))',
    '[x](&#106;avascript:alert(1))',
    '[x](&#x6A;&#x61;vascript:alert(1))',
    '[x](javascript&#58;alert(1))',
    '[x](java&#x09;script:alert(1))',
    '[x](jav&#x0A;ascript:alert(1))',
    '[x](java\u0000script:alert(1))',
    '[x](\u0001javascript:alert(1))',
    '[x](  javascript:alert(1)  )',
    '[x](<javascript:alert(1)>)',
    '[x](javascript://%0aalert(1))',
    '[x](vbscript:msgbox(1))',
    '[x](VBScript:msgbox(1))',
    '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
    '[x](DATA:text/html,<script>alert(1)</script>)',
    '[x](file:///etc/passwd)',
    '[x](//evil.example/path)',
    '[x](http://ok.example" onmouseover="alert(1))',
    '[x](http://ok.example "a\\" onclick=\\"alert(1)")',
    '[x](http://ok.example \'x" style="color:red\')',
    '[x]\n\n[x]: javascript:alert(1)',
    '[x][1]\n\n[1]: &#106;avascript:alert(1)',
    '**[x](javascript:alert(1))**',
    '- [x](javascript:alert(1))',
    '![x](javascript:alert(1))',
    '![x](x" onerror="alert(1))',
    '<javascript:alert(1)>',
    '<JAVASCRIPT:alert(1)>',
    '<vbscript:msgbox(1)>',
    '<data:text/html,alert(1)>',
    '`<script>alert(1)</script>`',
    '```\n<script>alert(1)</script>\n```',
    '```js" onmouseover="alert(1)\nx\n```',
    '```<script>\nx\n```',
    'https://ok.example/<script>alert(1)</script>',
    'http://ok.example/" onmouseover="alert(1)',
    'http://ok.example/?q=<img src=x onerror=alert(1)>',
    '\u202Ehttps://evil.example/gpj.exe',
    '[\u202Egpj.exe](https://evil.example/)',
    '[x](https://ok.example/\u202Egpj.exe)',
    '<a href="http://ok.example">\u202Etxt.exe</a>',
  ];

  it('has at least 40 payloads', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(40);
  });

  it.each(corpus)('%j renders safely', (payload) => {
    const html = renderMarkdown(payload);
    expect(problems(html), html).toEqual([]);
  });

  it('the checker itself catches unsafe HTML', () => {
    expect(problems('<p onclick="x">a</p>')).not.toEqual([]);
    expect(problems('<a href="javascript:alert(1)">a</a>')).not.toEqual([]);
    expect(problems('<a href="&#106;avascript:alert(1)">a</a>')).not.toEqual([]);
    expect(problems('<img src=x>')).not.toEqual([]);
    expect(problems('<span style="color:red">a</span>')).not.toEqual([]);
    expect(problems('<a href="/relative">a</a>')).not.toEqual([]);
  });

  it('refused links keep their text and stop being links', () => {
    for (const payload of ['[x](javascript:alert(1))', '[x](&#106;avascript:alert(1))', '<javascript:alert(1)>', '[x](data:text/html,hi)']) {
      expect(renderMarkdown(payload)).not.toContain('<a');
    }
    expect(renderMarkdown('<img src=x onerror=alert(1)>')).toBe('<p>&lt;img src=x onerror=alert(1)&gt;</p>');
  });
});

describe('renderMarkdown: total and fast enough', () => {
  it('renders a 4000-character message', () => {
    const input = 'word **bold** [link](https://example.com) `code` @bob\n'.repeat(80).slice(0, 4000);
    const html = renderMarkdown(input);
    expect(html).toContain('<strong>bold</strong>');
    expect(problems(html)).toEqual([]);
  });

  it('never throws on odd input', () => {
    for (const input of [
      '',
      '\u0000',
      '\uD800 lone surrogate',
      '>'.repeat(500) + ' deep',
      '['.repeat(2000),
      '*'.repeat(3000),
      '- '.repeat(1000) + 'x',
      '`'.repeat(999),
    ]) {
      expect(typeof renderMarkdown(input)).toBe('string');
    }
  });
});

describe('renderMarkdown: the shortcut for plain text', () => {
  it('renders exactly as the parse does, for every string it takes', () => {
    // Seeded, so a failure names a string that fails again.
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const alphabet = [...'abcXYZ019 ,?\'"@-.:/_*#>&<', 'é', 'ß', 'Ж', '中', '٣', '½', 'ǅ', 'ﬁ', 'İ', '\n'];
    const inputs = [
      'top-up 12',
      'ok',
      'see you then, ok?',
      'hi @bob',
      'x@y',
      'it\'s "fine"',
      'a - b',
      'trailing  ',
      'a--b',
      'see example.com',
      'mail bob@example.com',
      'x:y',
      '1. x',
    ];
    for (let i = 0; i < 4_000; i++)
      inputs.push(Array.from({ length: 1 + Math.floor(random() * 16) }, () => alphabet[Math.floor(random() * alphabet.length)]).join(''));
    for (const input of inputs) expect(renderMarkdown(input), JSON.stringify(input)).toBe(renderParsed(input));
  });
});

describe('extractLinks', () => {
  it('finds http(s) links outside code, deduplicated, in order', () => {
    const content =
      'a https://a.example/x and [b](http://b.example/) `https://code.example`\n<https://c.example>\n' +
      'again https://a.example/x ftp://files.example mailto:x@y.example\n```\nhttps://block.example\n```';
    expect(extractLinks(content)).toEqual(['https://a.example/x', 'http://b.example/', 'https://c.example']);
  });

  it('returns at most 5 and skips links longer than 2048 characters', () => {
    const long = `https://long.example/${'a'.repeat(2100)}`;
    const content = [long, ...Array.from({ length: 8 }, (_, i) => `https://site${i}.example/`)].join(' ');
    expect(extractLinks(content)).toEqual(Array.from({ length: 5 }, (_, i) => `https://site${i}.example/`));
  });

  it('ignores unsafe links and plain text', () => {
    expect(extractLinks('[x](javascript:alert(1)) hello @bob')).toEqual([]);
  });
});
