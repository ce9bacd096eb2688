// Real-time test clients: a real `ws` WebSocket and the spec-following `eventsource` client,
// both collecting what they receive into an Inbox that tests wait on.
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import { EVENT_TYPES, RESYNC_REQUIRED, workspaceShard, type ChatEvent } from '../../src/infra/events.js';
import { decodeCursor, encodeCursor } from '../../src/realtime/cursor.js';

/** The suite's shard count (TEST_EVENT_STREAM_SHARDS, see env.ts). */
export const SHARDS = Number(process.env.TEST_EVENT_STREAM_SHARDS || 1);

/**
 * An event's own stream id, from the id a client got (with several shards a cursor holding a
 * position per shard: the one of the event's workspace). Tests compare these with publish()'s ids.
 */
export function streamIdOf(frame: Pick<Frame, 'id' | 'workspace_id'>): string | undefined {
  if (frame.id === undefined || SHARDS === 1) return frame.id;
  if (!frame.workspace_id) return undefined;
  return decodeCursor(SHARDS, frame.id)?.shards.get(workspaceShard(SHARDS, frame.workspace_id));
}

/** What a client would hold after receiving the event `streamId` of `workspaceId` and nothing else. */
export function resumeIdFor(streamId: string, workspaceId: string): string {
  if (SHARDS === 1) return streamId;
  return encodeCursor(SHARDS, { shards: new Map([[workspaceShard(SHARDS, workspaceId), streamId]]), changes: '0-0' });
}

export interface Frame {
  id?: string;
  type: string;
  workspace_id?: string | null;
  chat_id?: string | null;
  data?: any;
  error?: { code: string; message: string };
  /** SSE only: the `id:` line of the event (must equal the envelope id). */
  sseId?: string;
}

export class Inbox {
  readonly frames: Frame[] = [];
  private waiters = new Set<() => void>();

  push(frame: Frame): void {
    this.frames.push(frame);
    for (const wake of this.waiters) wake();
  }

  /**
   * Stream events (frames with an id), optionally of one type. Without a type, presence events
   * are left out: every connection produces real ones (a user coming online), which tests of
   * other events should not have to count.
   */
  events(type?: string): Frame[] {
    return this.frames.filter((f) => f.id !== undefined && (type === undefined ? f.type !== 'presence.updated' : f.type === type));
  }

  /** The stream ids of the events (see streamIdOf). */
  ids(): string[] {
    return this.events().map((f) => streamIdOf(f)!);
  }

  /** What a client resumes from: the id of the last event it received, of any type. */
  lastEventId(): string | undefined {
    return this.frames.filter((f) => f.id !== undefined).at(-1)?.id;
  }

  /** Waits until `check(frames)` holds. */
  async until(check: (frames: Frame[]) => boolean, timeoutMs = 5000, what = 'frames'): Promise<Frame[]> {
    if (check(this.frames)) return this.frames;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.frames.map((f) => [f.type, f.id, f.data?.seq]))}`));
      }, timeoutMs);
      const wake = () => {
        if (!check(this.frames)) return;
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
    });
    return this.frames;
  }

  /** Waits for a stream event with this id. */
  seen(id: string, timeoutMs = 5000): Promise<Frame[]> {
    return this.until((fs) => fs.some((f) => streamIdOf(f) === id), timeoutMs, `event ${id}`);
  }
}

export interface WsClient {
  ws: WebSocket;
  inbox: Inbox;
  send(frame: unknown): void;
  closed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

const wsUrl = (baseUrl: string, query: Record<string, string | undefined>) => {
  const url = new URL('/api/v1/ws', baseUrl.replace(/^http/, 'ws'));
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
};

/** Opens a WebSocket; resolves once open, rejects with `HTTP <status>` when refused. */
export function openWs(
  baseUrl: string,
  token: string | undefined,
  options: { lastEventId?: string; viaHeader?: boolean; wsOptions?: WebSocket.ClientOptions } = {},
): Promise<WsClient> {
  const url = wsUrl(baseUrl, { access_token: options.viaHeader ? undefined : token, last_event_id: options.lastEventId });
  const headers = options.viaHeader && token ? { authorization: `Bearer ${token}` } : undefined;
  const ws = new WebSocket(url, { headers, ...options.wsOptions });
  const inbox = new Inbox();
  ws.on('message', (data) => inbox.push(JSON.parse(data.toString())));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    // `HTTP <status> <body>`: a refused handshake answers in the API's error shape.
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => reject(new Error(`HTTP ${res.statusCode} ${body}`)));
      res.on('error', () => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    ws.once('error', reject);
    ws.once('open', () =>
      resolve({
        ws,
        inbox,
        closed,
        send: (frame) => ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame)),
        close: async () => {
          if (ws.readyState === ws.CLOSED) return;
          ws.close();
          await closed;
        },
      }),
    );
  });
}

/** Every event type an SSE client listens for. */
const SSE_EVENT_TYPES = [...EVENT_TYPES, RESYNC_REQUIRED];

export interface SseClient {
  es: EventSource;
  inbox: Inbox;
  /** Server-sent `event: error` payloads (e.g. token expired). */
  errors: unknown[];
  close(): void;
}

/** Opens an EventSource with the token in the Authorization header; resolves on open. */
export function openSse(baseUrl: string, token: string, options: { lastEventId?: string; viaQuery?: boolean } = {}): Promise<SseClient> {
  const url = new URL('/api/v1/events', baseUrl);
  if (options.viaQuery) url.searchParams.set('access_token', token);
  const es = new EventSource(url.toString(), {
    fetch: (input, init) =>
      fetch(input, {
        ...init,
        headers: {
          ...init.headers,
          ...(options.viaQuery ? {} : { authorization: `Bearer ${token}` }),
          // Only on the first request: EventSource itself sends Last-Event-ID on reconnects.
          ...(options.lastEventId && !(init.headers as Record<string, string>)['Last-Event-ID'] ? { 'Last-Event-ID': options.lastEventId } : {}),
        },
      }),
  });
  const inbox = new Inbox();
  const errors: unknown[] = [];
  for (const type of SSE_EVENT_TYPES) {
    es.addEventListener(type, (event) => inbox.push({ ...JSON.parse(event.data), sseId: event.lastEventId }));
  }
  es.addEventListener('error', (event) => {
    if ('data' in event && typeof event.data === 'string') errors.push(JSON.parse(event.data));
  });
  return new Promise((resolve, reject) => {
    es.onopen = () => resolve({ es, inbox, errors, close: () => es.close() });
    es.onerror = (event) => {
      if (es.readyState === EventSource.CLOSED) reject(new Error(`SSE failed: ${(event as { code?: number }).code ?? event.message}`));
    };
  });
}

let counter = 0;

/** A realistic message.created event (as the persist worker publishes it). */
export function messageEvent(workspaceId: string, chatId: string, senderId: string, seq: number, content = `message ${seq}`): ChatEvent {
  counter += 1;
  return {
    type: 'message.created',
    workspace_id: workspaceId,
    chat_id: chatId,
    data: {
      id: `00000000-0000-4000-8000-${String(counter).padStart(12, '0')}`,
      chat_id: chatId,
      workspace_id: workspaceId,
      seq,
      sender_id: senderId,
      content,
      client_id: `c-${counter}`,
      reply_to: null,
      created_at: new Date().toISOString(),
      edited_at: null,
      deleted: false,
      accepted_at: Date.now(),
    },
  };
}
