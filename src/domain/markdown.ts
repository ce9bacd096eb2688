// Message markdown: a CommonMark subset rendered once at persist time (message-persist.ts) into
// the sanitized HTML stored in messages.rendered. Two layers on purpose: markdown-it never emits
// raw HTML (html: false, link validation), and sanitize-html then enforces the tag/attribute
// allow-list on whatever came out, so a markdown-it bug cannot become an XSS. Supported:
// emphasis, strong, strikethrough, inline code, fenced/indented code, links and autolinks,
// lists, blockquotes, paragraphs, line breaks. Headings, tables, images, rules and HTML are
// not parsed and come out as the text the user typed. `@username` stays text (the client
// highlights it). extractLinks() gives the unfurl worker the URLs to preview.
import MarkdownIt from 'markdown-it';
import sanitizeHtml from 'sanitize-html';

const md = new MarkdownIt('default', { html: false, linkify: true, typographer: false, breaks: true });
md.disable(['table', 'heading', 'lheading', 'hr', 'html_block', 'html_inline']);

// With the image rule simply disabled, `![alt](src)` would become `!` + a link; instead parse it
// as an image and replace the token by its source text, so it reads exactly as typed
// (text_special: plain text that the linkify pass leaves alone).
type StateInline = InstanceType<typeof MarkdownIt.StateInline>;
type InlineRule = (state: StateInline, silent: boolean) => boolean;
const imageRule = (md.inline.ruler as unknown as { __rules__: Array<{ name: string; fn: InlineRule }> }).__rules__.find((r) => r.name === 'image')!.fn;
md.inline.ruler.at('image', (state: StateInline, silent: boolean) => {
  const start = state.pos;
  if (!imageRule(state, silent)) return false;
  if (!silent) {
    const text = new state.Token('text_special', '', 0);
    text.content = state.src.slice(start, state.pos);
    state.tokens[state.tokens.length - 1] = text;
  }
  return true;
});

const LINK_SCHEMES = new Set(['http:', 'https:', 'mailto:']);
const LANGUAGE_CLASS = /^language-[a-z0-9+#-]{1,20}$/;

/** The href if it is an absolute http(s)/mailto URL, else null (relative links are dropped too). */
function safeHref(href: string | undefined): string | null {
  if (!href) return null;
  // Browsers ignore these inside a scheme (`java\tscript:`); refuse rather than normalise.
  if (/[\u0000-\u0020\u007f-\u009f]/.test(href)) return null;
  try {
    return LINK_SCHEMES.has(new URL(href).protocol) ? href : null;
  } catch {
    return null;
  }
}

const SANITIZE: sanitizeHtml.IOptions = {
  allowedTags: ['p', 'br', 'strong', 'em', 's', 'del', 'code', 'pre', 'blockquote', 'ul', 'ol', 'li', 'a', 'span'],
  allowedAttributes: { a: ['href', 'rel', 'target'], code: ['class'] },
  allowedClasses: { code: [LANGUAGE_CLASS] },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: {},
  allowedSchemesAppliedToAttributes: ['href'],
  allowProtocolRelative: false,
  allowedStyles: {},
  disallowedTagsMode: 'escape',
  transformTags: {
    // A link without an acceptable target keeps its text but stops being a link.
    a: (_tag, attribs): sanitizeHtml.Tag => {
      const href = safeHref(attribs.href);
      if (!href) return { tagName: 'span', attribs: {} };
      return { tagName: 'a', attribs: { href, rel: 'noopener noreferrer nofollow', target: '_blank' } };
    },
    code: (_tag, attribs): sanitizeHtml.Tag => ({
      tagName: 'code',
      attribs: attribs.class && LANGUAGE_CLASS.test(attribs.class) ? { class: attribs.class } : {},
    }),
  },
};

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// One line of words that no rule here can touch (no markup or HTML character, nothing linkify
// could take for a link: no '.', ':' or '/') renders as itself in a paragraph, without the parse
// and sanitize that were most of a persist batch's CPU. Short chat messages often are like that.
const PLAIN = /^[\p{L}\p{N}][\p{L}\p{N} ,?'"@-]*$/u;

/** Sanitized HTML for a message's content. Total: on any internal failure, the escaped text. */
export function renderMarkdown(content: string): string {
  return PLAIN.test(content) ? `<p>${content.trimEnd()}</p>` : renderParsed(content);
}

/** renderMarkdown without the shortcut for plain text. Exported for the test that they agree. */
export function renderParsed(content: string): string {
  try {
    return sanitizeHtml(md.render(content), SANITIZE).trim();
  } catch {
    return `<p>${escapeHtml(content)}</p>`;
  }
}

const MAX_LINKS = 5;
const MAX_LINK_LENGTH = 2048;

/**
 * The http(s) URLs a message links to (autolinks, linkified text and markdown links, not code),
 * deduplicated in order of appearance, at most 5, none longer than 2048 chars: what gets unfurled.
 */
export function extractLinks(content: string): string[] {
  const links: string[] = [];
  try {
    for (const block of md.parse(content, {})) {
      for (const token of block.children ?? []) {
        if (token.type !== 'link_open') continue;
        const href = String(token.attrGet('href') ?? '');
        if (!href || href.length > MAX_LINK_LENGTH || !/^https?:\/\//i.test(href) || links.includes(href)) continue;
        links.push(href);
        if (links.length === MAX_LINKS) return links;
      }
    }
  } catch {
    // Total like renderMarkdown: a parse failure previews nothing.
  }
  return links;
}
