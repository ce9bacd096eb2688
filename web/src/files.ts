// Files in messages: thumbnails and downloads need the bearer token, so they are fetched with
// it (cached per path for the page's lifetime: files never change under an id). Downloads use
// a blob: URL; thumbnails a data: URL, because the page's CSP (src/api/security.ts) allows
// images from 'self' and data: only. Uploads go first; the message is sent with their ids.
import type { Attachment, LinkPreview } from '@fechatter/sdk';
import { errorText } from './auth-view.js';
import { h, icon } from './dom.js';
import { client } from './session.js';

const blobs = new Map<string, Promise<string>>();

/** A blob: URL for an attachment path, fetched once with the token. */
export function blobUrl(path: string): Promise<string> {
  let url = blobs.get(path);
  if (!url) {
    url = client.api.download(path).then((blob) => URL.createObjectURL(blob));
    url.catch(() => blobs.delete(path));
    blobs.set(path, url);
  }
  return url;
}

const images = new Map<string, Promise<string>>();

/** A data: URL of a (small) image fetched with the token: what the CSP lets an <img> show. */
export function imageUrl(path: string): Promise<string> {
  let url = images.get(path);
  if (!url) {
    url = client.api.download(path).then(
      (blob) =>
        new Promise<string>((resolve, reject) => {
          const reader = new FileReader();
          reader.onload = () => resolve(String(reader.result));
          reader.onerror = () => reject(reader.error ?? new Error('could not read the image'));
          reader.readAsDataURL(blob);
        }),
    );
    url.catch(() => images.delete(path));
    images.set(path, url);
  }
  return url;
}

export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Fetches the file with the token, then hands it to the browser as a download under its name. */
async function download(a: Attachment): Promise<void> {
  const url = await blobUrl(a.url);
  const link = h('a', { href: url, download: a.filename, hidden: true });
  document.body.appendChild(link);
  link.click();
  link.remove();
}

export function attachmentView(a: Attachment): HTMLElement {
  const name = `${a.filename} (${sizeText(a.size)})`;
  const link = h(
    'a',
    {
      href: '#',
      class: 'file-link',
      'data-attachment-id': a.id,
      onclick: (event: MouseEvent) => {
        event.preventDefault();
        void download(a).catch((err) => (link.title = errorText(err)));
      },
    },
    a.thumbnail_url ? `Download ${a.filename}` : name,
  );
  if (!a.thumbnail_url) return h('div', { class: 'attachment file' }, h('span', { class: 'file-icon' }, icon('file')), link);
  const img = h('img', { class: 'thumb', alt: a.filename, width: a.width ? Math.min(320, a.width) : undefined, loading: 'lazy', decoding: 'async' });
  if (a.width && a.height) img.style.aspectRatio = `${a.width} / ${a.height}`;
  void imageUrl(a.thumbnail_url)
    .then((url) => (img.src = url))
    .catch(() => (img.alt = `${a.filename} (preview unavailable)`));
  return h('figure', { class: 'attachment image' }, img, h('figcaption', { class: 'small' }, link));
}

const httpUrl = (value: string | null): string | null => {
  if (!value) return null;
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
};

/** A link preview card: every text as text; the image only from an http(s) URL. */
export function previewCard(p: LinkPreview): HTMLElement | null {
  const href = httpUrl(p.url);
  if (!href) return null;
  // The server's own copy of the page's image (same origin), never the site's.
  const image = p.image_url?.startsWith('/api/v1/link-previews/images/') ? p.image_url : null;
  return h(
    'aside',
    { class: 'preview', 'aria-label': `Link preview: ${p.title}` },
    image
      ? h('img', {
          src: image,
          alt: '',
          class: 'preview-image',
          loading: 'lazy',
          referrerPolicy: 'no-referrer',
          onerror: (e: Event) => ((e.target as HTMLElement).hidden = true),
        })
      : null,
    h(
      'div',
      { class: 'preview-text' },
      p.site_name ? h('div', { class: 'preview-site small muted' }, p.site_name) : null,
      h('a', { href, target: '_blank', rel: 'noopener noreferrer nofollow', class: 'preview-title' }, p.title),
      p.description ? h('p', { class: 'preview-description small' }, p.description) : null,
    ),
  );
}

export interface PendingUpload {
  file: File;
  state: 'uploading' | 'done' | 'failed';
  /** 0..1 while uploading, as the browser reports it. */
  progress: number;
  attachment?: Attachment;
  error?: string;
}

const stateText = (u: PendingUpload) =>
  u.state === 'uploading' ? ` uploading… ${Math.round(u.progress * 100)}%` : u.state === 'done' ? ' ready' : ` not uploaded: ${u.error}`;

/**
 * The files waiting to go with the next message: each uploads as soon as it is added, shows
 * its state (uploading, ready, or the server's error such as 413) and can be removed.
 */
export function uploadTray(chatId: () => string | null) {
  const el = h('ul', { class: 'upload-tray', 'aria-label': 'Files to send', hidden: true });
  let items: PendingUpload[] = [];
  const render = () => {
    el.replaceChildren(
      ...items.map((u) =>
        h(
          'li',
          { class: `upload ${u.state}` },
          h('span', { class: 'upload-name' }, `${u.file.name} (${sizeText(u.file.size)})`),
          u.state === 'uploading' ? h('progress', { class: 'upload-progress', max: 1, value: u.progress, 'aria-label': `Uploading ${u.file.name}` }) : null,
          h('span', { class: 'upload-state small', role: u.state === 'failed' ? 'alert' : 'status' }, stateText(u)),
          h('button', { type: 'button', class: 'icon', 'aria-label': `Remove ${u.file.name}`, onclick: () => remove(u) }, '✕'),
        ),
      ),
    );
    el.hidden = items.length === 0;
  };
  const remove = (u: PendingUpload) => {
    items = items.filter((x) => x !== u);
    render();
  };
  const add = (files: Iterable<File>) => {
    const cid = chatId();
    if (!cid) return;
    for (const file of files) {
      const u: PendingUpload = { file, state: 'uploading', progress: 0 };
      items.push(u);
      // Progress patches its own row only: a full render would take focus from the tray's buttons.
      const onProgress = (fraction: number) => {
        u.progress = fraction;
        const row = [...el.children][items.indexOf(u)];
        const bar = row?.querySelector('progress');
        if (bar) bar.value = fraction;
        const text = row?.querySelector('.upload-state');
        if (text) text.textContent = stateText(u);
      };
      client.api
        .uploadAttachment(cid, file, file.name || 'file', file.type || undefined, { onProgress })
        .then((a) => Object.assign(u, { state: 'done', attachment: a }))
        .catch((err) => Object.assign(u, { state: 'failed', error: uploadError(err) }))
        .finally(render);
    }
    render();
  };
  return {
    el,
    add,
    busy: () => items.some((u) => u.state === 'uploading'),
    /** The uploaded files, and clears them from the tray (failed ones stay, to be seen or removed). */
    take(): Attachment[] {
      const ids = items.filter((u) => u.state === 'done').map((u) => u.attachment!);
      items = items.filter((u) => u.state !== 'done');
      render();
      return ids;
    },
    clear() {
      items = [];
      render();
    },
  };
}

function uploadError(err: unknown): string {
  const status = (err as { status?: number }).status;
  if (status === 413) return errorText(err) || 'the file is too large, or the workspace is out of storage';
  return errorText(err);
}
