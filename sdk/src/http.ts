// The HTTP layer: JSON in and out, bearer tokens refreshed before they expire (refresh tokens
// rotate: each is spent on use, so refreshes are single-flight), typed errors, and retries of
// requests that are safe to repeat.
import { FechatterError, NetworkError, isErrorBody } from './errors.js';
import type { Session } from './types.js';

export interface Tokens {
  access_token: string;
  refresh_token: string;
  /** Epoch milliseconds at which the access token expires. */
  expires_at: number;
  /** The token's lifetime in seconds, as the server gave it. */
  expires_in: number;
}

/** Where tokens live between page loads (e.g. localStorage); optional. */
export interface TokenStore {
  load(): Tokens | null;
  save(tokens: Tokens | null): void;
}

export interface HttpOptions {
  /** The server's origin, e.g. `http://127.0.0.1:8080` (empty for same origin in a browser). */
  baseUrl: string;
  fetch?: typeof fetch;
  tokenStore?: TokenStore;
  /** Refresh when fewer than this many ms remain (default: a fifth of the lifetime, at least 5 s). */
  refreshMarginMs?: number;
  /**
   * Runs `fn` under a lock shared by every client of this user (e.g. navigator.locks across
   * browser tabs), so two tabs never spend the same refresh token (which would revoke both).
   */
  lock?: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  /** Called when the session ends (refresh failed or logout). */
  onSessionEnded?: () => void;
  /** Called whenever tokens change. */
  onTokens?: (tokens: Tokens | null) => void;
}

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined | null>;
  /** Send the bearer token (default true). */
  auth?: boolean;
  /** Attempts for network errors, 429 and 502-504 (default: 3 for GET, 1 otherwise). */
  attempts?: number;
  signal?: AbortSignal;
  /** Send these bytes as the body instead of JSON (uploads). */
  raw?: { body: Blob | ArrayBuffer | Uint8Array; contentType?: string };
  /** Answer with the response body as a Blob instead of parsed JSON (downloads). */
  blob?: boolean;
}

/** The part of XMLHttpRequest an upload uses (declared here: the SDK also builds without the DOM lib). */
interface XhrLike {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  upload: { onprogress: ((e: { lengthComputable: boolean; loaded: number; total: number }) => void) | null };
  onerror: (() => void) | null;
  onload: (() => void) | null;
  status: number;
  responseText: string;
  send(body: unknown): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Exponential backoff with "equal jitter": half fixed, half random, capped. */
export function backoffDelay(attempt: number, baseMs = 300, maxMs = 30_000): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

export class Http {
  readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private tokens: Tokens | null;
  private refreshing: Promise<Tokens> | null = null;
  private refreshTimer?: ReturnType<typeof setTimeout>;

  constructor(private readonly options: HttpOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.tokens = options.tokenStore?.load() ?? null;
    if (this.tokens) this.schedule();
  }

  get authenticated(): boolean {
    return this.tokens !== null;
  }

  /** The current tokens (after a refresh if the access token is about to expire). */
  async freshTokens(): Promise<Tokens> {
    const tokens = this.adoptStored() ?? this.tokens;
    if (!tokens) throw new FechatterError('unauthenticated', 'Not logged in.', 401);
    if (tokens.expires_at - Date.now() > this.margin()) return tokens;
    return this.refresh();
  }

  /** Takes a session from signup/login (or a refresh) and keeps its tokens. */
  setSession(session: Pick<Session, 'access_token' | 'refresh_token' | 'expires_in'> | null): void {
    const tokens = session
      ? {
          access_token: session.access_token,
          refresh_token: session.refresh_token,
          expires_at: Date.now() + session.expires_in * 1000,
          expires_in: session.expires_in,
        }
      : null;
    this.store(tokens);
  }

  currentTokens(): Tokens | null {
    return this.tokens;
  }

  /** Spends the refresh token for a new pair. Single-flight: concurrent callers share one refresh. */
  refresh(): Promise<Tokens> {
    if (this.refreshing) return this.refreshing;
    const run = async (): Promise<Tokens> => {
      // Another tab (or client sharing the store) may have refreshed already: use its pair.
      const stored = this.adoptStored();
      if (stored && stored.expires_at - Date.now() > this.margin()) return stored;
      const current = this.tokens;
      if (!current) throw new FechatterError('unauthenticated', 'Not logged in.', 401);
      try {
        const session = await this.request<Session>('POST', '/api/v1/auth/refresh', {
          body: { refresh_token: current.refresh_token },
          auth: false,
          attempts: 1,
        });
        this.setSession(session);
        return this.tokens!;
      } catch (err) {
        if (err instanceof FechatterError && err.status === 401) this.endSession();
        throw err;
      }
    };
    const locked = this.options.lock ? this.options.lock('fechatter-refresh', run) : run();
    this.refreshing = locked.finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  endSession(): void {
    const had = this.tokens !== null;
    this.store(null);
    if (had) this.options.onSessionEnded?.();
  }

  close(): void {
    clearTimeout(this.refreshTimer);
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const attempts = options.attempts ?? (method === 'GET' ? 3 : 1);
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once<T>(method, path, options, true);
      } catch (err) {
        if (!(err instanceof FechatterError) || !err.retryable || attempt + 1 >= attempts || options.signal?.aborted) throw err;
        await sleep(err.retryAfter !== undefined ? err.retryAfter * 1000 : backoffDelay(attempt));
      }
    }
  }

  private async once<T>(method: string, path: string, options: RequestOptions, mayRefresh: boolean): Promise<T> {
    const auth = options.auth ?? true;
    const headers: Record<string, string> = { accept: 'application/json' };
    let sentToken: string | undefined;
    if (auth) {
      sentToken = (await this.freshTokens()).access_token;
      headers.authorization = `Bearer ${sentToken}`;
    }
    let body: RequestInit['body'];
    if (options.raw) {
      headers['content-type'] = options.raw.contentType || 'application/octet-stream';
      body = options.raw.body as RequestInit['body'];
    } else if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    let url = this.baseUrl + path;
    if (options.query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(options.query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
      const qs = params.toString();
      if (qs) url += `?${qs}`;
    }
    let response: Response;
    try {
      response = await this.fetchImpl(url, { method, headers, body, signal: options.signal });
    } catch (err) {
      throw new NetworkError(`${method} ${path} failed: ${(err as Error).message}`, err);
    }
    if (options.blob && response.ok) return (await response.blob()) as T;
    const text = await response.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (response.ok) return parsed as T;
    // An access token rejected early (revoked, clock skew): refresh once and try again.
    if (response.status === 401 && auth && mayRefresh && this.tokens && this.tokens.access_token === sentToken) {
      await this.refresh();
      return this.once<T>(method, path, options, false);
    }
    const retryAfterHeader = response.headers.get('retry-after');
    const retryAfter = retryAfterHeader !== null && retryAfterHeader !== '' ? Number(retryAfterHeader) : undefined;
    if (isErrorBody(parsed)) {
      throw new FechatterError(parsed.error.code, parsed.error.message, response.status, parsed.error.details ?? [], retryAfter);
    }
    throw new FechatterError(`http_${response.status}`, `${method} ${path} answered ${response.status}`, response.status, [], retryAfter);
  }

  /**
   * POSTs raw bytes with upload progress (XMLHttpRequest: fetch reports none). Browsers only;
   * one attempt, like every non-GET.
   */
  async uploadWithProgress<T>(
    path: string,
    query: Record<string, string>,
    body: Blob | ArrayBuffer | Uint8Array,
    contentType: string | undefined,
    onProgress: (fraction: number) => void,
  ): Promise<T> {
    const token = (await this.freshTokens()).access_token;
    const url = `${this.baseUrl}${path}?${new URLSearchParams(query).toString()}`;
    const XHR = (globalThis as unknown as { XMLHttpRequest: new () => XhrLike }).XMLHttpRequest;
    return new Promise<T>((resolve, reject) => {
      const xhr = new XHR();
      xhr.open('POST', url);
      xhr.setRequestHeader('accept', 'application/json');
      xhr.setRequestHeader('authorization', `Bearer ${token}`);
      xhr.setRequestHeader('content-type', contentType || 'application/octet-stream');
      xhr.upload.onprogress = (e: { lengthComputable: boolean; loaded: number; total: number }) => {
        if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
      };
      xhr.onerror = () => reject(new NetworkError(`POST ${path} failed`, null));
      xhr.onload = () => {
        let parsed: unknown;
        try {
          parsed = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
        } catch {
          parsed = xhr.responseText;
        }
        if (xhr.status >= 200 && xhr.status < 300) return resolve(parsed as T);
        if (isErrorBody(parsed)) return reject(new FechatterError(parsed.error.code, parsed.error.message, xhr.status, parsed.error.details ?? []));
        reject(new FechatterError(`http_${xhr.status}`, `POST ${path} answered ${xhr.status}`, xhr.status, []));
      };
      xhr.send(body);
    });
  }

  private margin(): number {
    if (this.options.refreshMarginMs !== undefined) return this.options.refreshMarginMs;
    const lifetime = (this.tokens?.expires_in ?? 900) * 1000;
    return Math.min(Math.max(5000, lifetime / 5), lifetime / 2);
  }

  /** A newer pair saved by another client sharing the store (another tab). */
  private adoptStored(): Tokens | null {
    const stored = this.options.tokenStore?.load();
    if (!stored || !this.tokens || stored.refresh_token === this.tokens.refresh_token) return null;
    if (stored.expires_at <= this.tokens.expires_at) return null;
    this.tokens = stored;
    this.schedule();
    return stored;
  }

  private store(tokens: Tokens | null): void {
    this.tokens = tokens;
    this.options.tokenStore?.save(tokens);
    this.options.onTokens?.(tokens);
    this.schedule();
  }

  /** Refreshes ahead of expiry, so a long-idle client still has a valid token when it needs one. */
  private schedule(): void {
    clearTimeout(this.refreshTimer);
    if (!this.tokens) return;
    const due = this.tokens.expires_at - this.margin() - Date.now();
    this.refreshTimer = setTimeout(
      () => {
        this.refresh().catch(() => {
          // Network trouble: the next request retries the refresh; a 401 already ended the session.
        });
      },
      Math.max(1000, due),
    );
    // Never keep a Node process alive just for this.
    (this.refreshTimer as { unref?: () => void }).unref?.();
  }
}
