// The live connection: WebSocket first, Server-Sent Events when WebSockets do not get through,
// reconnecting with jittered exponential backoff and resuming from the last event id, so a
// drop loses nothing. `resync_required` (the id was too old to replay) is surfaced as `resync`
// for the client to refetch over REST. See API.md, "Real-time".
import { Emitter } from './emitter.js';
import { FechatterError } from './errors.js';
import { backoffDelay, type Http } from './http.js';
import { EVENT_TYPES, type ChatEvent } from './types.js';

/** The part of the WebSocket API the SDK uses (browsers' global, `ws`, Node 22's global). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: { data: any }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: any) => void) | null;
}
export type WebSocketCtor = new (url: string) => WebSocketLike;

/** The part of the EventSource API the SDK uses (browsers' global, the `eventsource` package). */
export interface EventSourceLike {
  readonly readyState: number;
  close(): void;
  onopen: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  addEventListener(type: string, listener: (event: any) => void): void;
}
export type EventSourceCtor = new (url: string) => EventSourceLike;

export type Transport = 'ws' | 'sse';

export interface LiveStatus {
  state: 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';
  transport: Transport | null;
  /** Consecutive failed attempts (0 once open). */
  attempt: number;
  /** When reconnecting: epoch ms of the next try. */
  retryAt?: number;
}

export interface LiveOptions {
  WebSocket?: WebSocketCtor;
  EventSource?: EventSourceCtor;
  /** Allowed transports, in order of preference (default ws, then sse). */
  transports?: Transport[];
  /** Backoff base and cap (defaults 500 ms and 30 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** WebSocket keep-alive: a ping every this many ms; silence for twice that means dead (default 20 s). */
  pingIntervalMs?: number;
  /** Consecutive WebSocket failures before trying SSE (default 2). */
  fallbackAfter?: number;
}

type LiveEvents = {
  event: [ChatEvent];
  resync: [];
  status: [LiveStatus];
  error: [Error];
};

const OPEN = 1;
const TOKEN_EXPIRED_CLOSE = 4001;

export class LiveConnection extends Emitter<LiveEvents> {
  /** The id of the last event received: the resume point. */
  lastEventId: string | null = null;
  status: LiveStatus = { state: 'idle', transport: null, attempt: 0 };
  private readonly WebSocketImpl?: WebSocketCtor;
  private readonly EventSourceImpl?: EventSourceCtor;
  private readonly transports: Transport[];
  private ws: WebSocketLike | null = null;
  private es: EventSourceLike | null = null;
  private timer?: ReturnType<typeof setTimeout>;
  private pinger?: ReturnType<typeof setInterval>;
  private lastFrameAt = 0;
  private stopped = true;
  private hasOpened = false;
  private failures: Record<Transport, number> = { ws: 0, sse: 0 };
  private generation = 0;
  /** Recent event ids, so an event delivered twice (e.g. across a transport switch) is handled once. */
  private recent = new Set<string>();

  constructor(
    private readonly http: Http,
    private readonly options: LiveOptions = {},
  ) {
    super();
    const g = globalThis as { WebSocket?: WebSocketCtor; EventSource?: EventSourceCtor };
    this.WebSocketImpl = options.WebSocket ?? g.WebSocket;
    this.EventSourceImpl = options.EventSource ?? g.EventSource;
    this.transports = (options.transports ?? ['ws', 'sse']).filter((t) => (t === 'ws' ? this.WebSocketImpl : this.EventSourceImpl));
  }

  get transport(): Transport | null {
    return this.status.state === 'open' ? this.status.transport : null;
  }

  start(): void {
    if (!this.stopped) return;
    if (this.transports.length === 0) throw new Error('No WebSocket or EventSource implementation: pass one in the options.');
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.teardown();
    this.setStatus({ state: 'closed', transport: null, attempt: 0 });
  }

  /** Drops the current connection and reconnects right away (e.g. when the browser comes back online). */
  reconnectNow(): void {
    if (this.stopped) return;
    this.teardown();
    void this.connect();
  }

  /** Sends a client frame over the WebSocket; false when the WebSocket is not open. */
  sendFrame(frame: { type: string; [key: string]: unknown }): boolean {
    if (!this.ws || this.ws.readyState !== OPEN || this.status.state !== 'open') return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  private pick(): Transport {
    const [first, second] = this.transports;
    const fallbackAfter = this.options.fallbackAfter ?? 2;
    if (second && this.failures[first] >= fallbackAfter) {
      // Both failing for a while: go back to the preferred one (the network may have changed).
      if (this.failures[second] >= fallbackAfter) this.failures = { ws: 0, sse: 0 };
      else return second;
    }
    return first;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const generation = ++this.generation;
    const transport = this.pick();
    this.setStatus({
      state: this.status.state === 'open' || this.status.state === 'reconnecting' ? 'reconnecting' : 'connecting',
      transport,
      attempt: this.status.attempt,
    });
    let token: string;
    try {
      // Repeated handshake failures may be a revoked token (a browser WebSocket cannot see the
      // 401): check it over REST, which refreshes or ends the session.
      if (this.status.attempt >= 2 && this.status.attempt % 2 === 0) await this.http.request('GET', '/api/v1/me', { attempts: 1 });
      token = (await this.http.freshTokens()).access_token;
    } catch (err) {
      if (err instanceof FechatterError && err.status === 401) {
        this.emit('error', err);
        return this.stop();
      }
      return this.retry(generation, transport);
    }
    if (this.stopped || generation !== this.generation) return;
    if (transport === 'ws') this.openWs(token, generation);
    else this.openSse(token, generation);
  }

  private url(path: string, token: string, scheme: 'ws' | 'http'): string {
    const base = this.http.baseUrl || (globalThis as { location?: { origin: string } }).location?.origin || '';
    const url = new URL(path, base);
    if (scheme === 'ws') url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('access_token', token);
    if (this.lastEventId) url.searchParams.set('last_event_id', this.lastEventId);
    return url.toString();
  }

  private openWs(token: string, generation: number): void {
    const resumedFrom = this.lastEventId;
    const ws = new this.WebSocketImpl!(this.url('/api/v1/ws', token, 'ws'));
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      if (generation !== this.generation) return;
      opened = true;
      this.opened('ws', resumedFrom);
      this.lastFrameAt = Date.now();
      const interval = this.options.pingIntervalMs ?? 20_000;
      this.pinger = setInterval(() => {
        if (Date.now() - this.lastFrameAt > interval * 2) {
          // Silent for two intervals: the path is dead even if the socket does not know it yet.
          this.closed(generation, 'ws', true, false);
          return;
        }
        this.sendFrame({ type: 'ping' });
      }, interval);
      (this.pinger as { unref?: () => void }).unref?.();
    };
    ws.onmessage = (event) => {
      if (generation !== this.generation) return;
      this.lastFrameAt = Date.now();
      const text = typeof event.data === 'string' ? event.data : String(event.data);
      let frame: { type?: string; id?: string; error?: { code: string; message: string; details?: unknown[] } };
      try {
        frame = JSON.parse(text);
      } catch {
        return;
      }
      if (frame.type === 'pong') return;
      if (frame.type === 'error' && frame.error) {
        this.emit('error', new FechatterError(frame.error.code, frame.error.message, 0, frame.error.details ?? []));
        return;
      }
      this.receive(frame as ChatEvent);
    };
    ws.onerror = () => {
      // onclose follows with the details.
    };
    ws.onclose = (event) => {
      if (generation !== this.generation) return;
      this.closed(generation, 'ws', opened, event.code === TOKEN_EXPIRED_CLOSE);
    };
  }

  private openSse(token: string, generation: number): void {
    const resumedFrom = this.lastEventId;
    const es = new this.EventSourceImpl!(this.url('/api/v1/events', token, 'http'));
    this.es = es;
    let opened = false;
    let tokenExpired = false;
    es.onopen = () => {
      if (generation !== this.generation) return;
      opened = true;
      this.opened('sse', resumedFrom);
    };
    const onEvent = (event: { data?: string }) => {
      if (generation !== this.generation || typeof event.data !== 'string') return;
      try {
        this.receive(JSON.parse(event.data) as ChatEvent);
      } catch {
        // not JSON: ignore
      }
    };
    for (const type of [...EVENT_TYPES, 'message']) es.addEventListener(type, onEvent);
    es.addEventListener('error', (event: { data?: unknown }) => {
      // The server's own `event: error` (token expired) carries data; network errors do not.
      if (typeof event.data === 'string' && event.data.includes('unauthenticated')) tokenExpired = true;
    });
    es.onerror = () => {
      if (generation !== this.generation) return;
      // EventSource would reconnect by itself, but with the old URL (and token): we do it.
      this.closed(generation, 'sse', opened, tokenExpired);
    };
  }

  private opened(transport: Transport, resumedFrom: string | null): void {
    this.failures[transport] = 0;
    const reconnected = this.hasOpened;
    this.hasOpened = true;
    this.setStatus({ state: 'open', transport, attempt: 0 });
    // Back after a drop with nothing to resume from (no event arrived on the last connection):
    // the server cannot replay, so the client must catch up over REST.
    if (reconnected && resumedFrom === null) this.emit('resync');
  }

  private closed(generation: number, transport: Transport, wasOpen: boolean, tokenExpired: boolean): void {
    if (generation !== this.generation || this.stopped) return;
    this.teardown();
    generation = this.generation;
    if (!wasOpen) this.failures[transport] += 1;
    if (tokenExpired) {
      // Not a failure: get a new token and come straight back, resuming where we were.
      this.http.refresh().then(
        () => void this.connect(),
        (err: unknown) => {
          if (err instanceof FechatterError && err.status === 401) {
            this.emit('error', err);
            this.stop();
          } else this.retry(this.generation, transport);
        },
      );
      return;
    }
    this.retry(generation, transport);
  }

  private retry(generation: number, transport: Transport): void {
    if (this.stopped || generation !== this.generation) return;
    const attempt = this.status.attempt + 1;
    // A connection that was open gets one quick retry (attempt 1 waits base/2..base).
    const delay = backoffDelay(attempt - 1, this.options.backoffBaseMs ?? 500, this.options.backoffMaxMs ?? 30_000);
    this.setStatus({ state: 'reconnecting', transport, attempt, retryAt: Date.now() + delay });
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(), delay);
  }

  private receive(envelope: ChatEvent): void {
    if (envelope.id) {
      if (this.recent.has(envelope.id)) return;
      this.recent.add(envelope.id);
      if (this.recent.size > 2000) this.recent.delete(this.recent.values().next().value as string);
      this.lastEventId = envelope.id;
    }
    if (envelope.type === 'resync_required') this.emit('resync');
    else this.emit('event', envelope);
  }

  private teardown(): void {
    this.generation += 1;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    const ws = this.ws;
    const es = this.es;
    this.ws = null;
    this.es = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      // Not null: the `ws` package throws an 'error' without a listener (closing while connecting).
      ws.onerror = () => {};
      try {
        ws.close();
      } catch {
        // already closing
      }
    }
    if (es) {
      es.onopen = es.onerror = null;
      es.close();
    }
  }

  private setStatus(status: LiveStatus): void {
    this.status = status;
    this.emit('status', status);
  }
}
