// FechatterClient: the typed API, the live connection and the message pipeline together.
// send() echoes a message locally right away (state `pending`), posts it with retries under
// one client_id (the server dedupes retries), and resolves when the matching message.created
// arrives (or, without a live connection, when the message can be read back).
import { Api, type SignupBody, type UpdateMeBody } from './api.js';
import { Emitter } from './emitter.js';
import { FechatterError } from './errors.js';
import { Http, backoffDelay, type HttpOptions } from './http.js';
import { LiveConnection, type LiveOptions, type LiveStatus } from './live.js';
import type { ChatEvent, EventOf, EventType, LocalMessage, Message, User } from './types.js';

export interface ClientOptions extends Omit<HttpOptions, 'baseUrl'>, LiveOptions {
  /** The server's origin; defaults to the page's origin in a browser. */
  baseUrl?: string;
  /** POST attempts for one send before it is marked failed (default 8, about a minute of backoff). */
  sendAttempts?: number;
  /** How long to wait for message.created before reading the message back over REST (default 4 s). */
  confirmAfterMs?: number;
  /** Called on every state change of a locally echoed message (same as the `local` event). */
  onLocal?: (message: LocalMessage) => void;
}

type ClientEvents = { [K in EventType]: [EventOf<K>] } & {
  /** Every real-time event, after dedupe. */
  event: [ChatEvent];
  /** A message seen for the first time (live, resync catch-up or send confirmation). */
  message: [Message];
  /** Local echo: a message being sent changed state (pending, sent, failed). */
  local: [LocalMessage];
  /** The live connection could not resume: refetch what is on screen. */
  resync: [];
  status: [LiveStatus];
  error: [Error];
  /** Login, signup, or the end of the session (null). */
  session: [User | null];
  /** My profile changed (updateMe here, or a user.updated about me from elsewhere). */
  user: [User];
};

interface PendingSend {
  local: LocalMessage;
  promise: Promise<Message>;
  resolve(message: Message): void;
  reject(error: Error): void;
  confirmTimer?: ReturnType<typeof setTimeout>;
}

const SEEN_LIMIT = 5000;
const TYPING_EVERY_MS = 3000;

/** A client_id: random, 32 hex characters (crypto.randomUUID needs a secure context; this does not). */
export function newClientId(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class FechatterClient extends Emitter<ClientEvents> {
  readonly api: Api;
  readonly http: Http;
  readonly live: LiveConnection;
  user: User | null = null;
  /** Highest seq seen per chat; resync catches up from here. */
  readonly lastSeq = new Map<string, number>();
  private readonly pending = new Map<string, PendingSend>();
  private readonly seen = new Set<string>();
  private readonly typingSentAt = new Map<string, number>();
  private readonly typingTrailing = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private readonly options: ClientOptions = {}) {
    super();
    const baseUrl = options.baseUrl ?? (globalThis as { location?: { origin: string } }).location?.origin ?? '';
    this.http = new Http({
      ...options,
      baseUrl,
      onSessionEnded: () => {
        this.live.stop();
        this.user = null;
        this.emit('session', null);
        options.onSessionEnded?.();
      },
    });
    this.api = new Api(this.http);
    this.live = new LiveConnection(this.http, options);
    this.live.on('event', (e) => this.onEvent(e));
    this.live.on('resync', () => void this.resync());
    this.live.on('status', (s) => this.emit('status', s));
    this.live.on('error', (err) => this.emit('error', err));
    if (options.onLocal) this.on('local', options.onLocal);
  }

  get authenticated(): boolean {
    return this.http.authenticated;
  }

  async signup(body: SignupBody): Promise<User> {
    const { user } = await this.api.signup(body);
    this.setUser(user);
    return user;
  }

  async login(body: { email: string; password: string }): Promise<User> {
    const { user } = await this.api.login(body);
    this.setUser(user);
    return user;
  }

  /** With stored tokens: loads the user (and checks the session is still good). */
  async restore(): Promise<User | null> {
    if (!this.http.authenticated) return null;
    try {
      const me = await this.api.me();
      this.setUser(me.user);
      return me.user;
    } catch (err) {
      if (err instanceof FechatterError && err.status === 401) return null;
      throw err;
    }
  }

  /** PATCH /me, keeping `user` current (username, status, do-not-disturb, name, password). */
  async updateMe(body: UpdateMeBody): Promise<User> {
    const { user } = await this.api.updateMe(body);
    this.changeUser(user);
    return user;
  }

  async logout(): Promise<void> {
    this.live.stop();
    await this.api.logout();
  }

  /** Opens the live connection (WebSocket, falling back to SSE). */
  connect(): void {
    this.live.start();
  }

  close(): void {
    this.live.stop();
    this.http.close();
    for (const p of this.pending.values()) clearTimeout(p.confirmTimer);
    for (const t of this.typingTrailing.values()) clearTimeout(t);
  }

  /**
   * Sends a message. The local echo (`local` event, state `pending`) is emitted before this
   * returns; the promise resolves with the stored message (with its seq) once confirmed.
   */
  send(
    chatId: string,
    content: string,
    options: { reply_to?: string; client_id?: string; thread_root_id?: string; attachment_ids?: string[] } = {},
  ): Promise<Message> {
    // A message ends "typing" for its readers: the next keystroke must announce typing again.
    this.typingSentAt.delete(chatId);
    clearTimeout(this.typingTrailing.get(chatId));
    this.typingTrailing.delete(chatId);
    const local: LocalMessage = {
      client_id: options.client_id ?? newClientId(),
      chat_id: chatId,
      content,
      reply_to: options.reply_to ?? null,
      thread_root_id: options.thread_root_id ?? null,
      ...(options.attachment_ids?.length ? { attachment_ids: options.attachment_ids } : {}),
      sender_id: this.user?.id ?? null,
      state: 'pending',
      created_at: new Date().toISOString(),
    };
    return this.dispatch(local);
  }

  /** Sends a failed message again under the same client_id (never stored twice). */
  retry(local: LocalMessage): Promise<Message> {
    return this.dispatch({ ...local, state: 'pending', error: undefined });
  }

  /** Messages still waiting for confirmation. */
  pendingMessages(chatId?: string): LocalMessage[] {
    return [...this.pending.values()].map((p) => p.local).filter((l) => chatId === undefined || l.chat_id === chatId);
  }

  /**
   * History through the SDK: marks the messages seen (a live event for them is not repeated)
   * and remembers the chat's newest seq for resync catch-up.
   */
  async history(chatId: string, query: { before?: number; after?: number; limit?: number } = {}): Promise<{ items: Message[]; has_more: boolean }> {
    const page = await this.api.listMessages(chatId, query);
    for (const m of page.items) this.note(m);
    return page;
  }

  /** Says "I am typing" (throttled): over the WebSocket when open, else over REST. */
  typing(chatId: string): void {
    const now = Date.now();
    const last = this.typingSentAt.get(chatId) ?? 0;
    if (now - last >= TYPING_EVERY_MS) return this.sendTyping(chatId);
    // Still typing inside the window: announce once more when it ends (the server may have
    // dropped the first one under its own rate limit).
    if (!this.typingTrailing.has(chatId)) {
      this.typingTrailing.set(
        chatId,
        setTimeout(() => this.sendTyping(chatId), last + TYPING_EVERY_MS - now),
      );
    }
  }

  private sendTyping(chatId: string): void {
    clearTimeout(this.typingTrailing.get(chatId));
    this.typingTrailing.delete(chatId);
    this.typingSentAt.set(chatId, Date.now());
    if (!this.live.sendFrame({ type: 'typing', chat_id: chatId })) {
      this.api.typing(chatId).catch((err: Error) => this.emit('error', err));
    }
  }

  private dispatch(local: LocalMessage): Promise<Message> {
    // The same client_id already on its way (a double click, a retry racing the first try).
    const existing = this.pending.get(local.client_id);
    if (existing) return existing.promise;
    const entry = { local } as PendingSend;
    entry.promise = new Promise<Message>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    this.pending.set(local.client_id, entry);
    this.emit('local', { ...local });
    void this.post(entry);
    return entry.promise;
  }

  private async post(entry: PendingSend): Promise<void> {
    const { local } = entry;
    const attempts = this.options.sendAttempts ?? 8;
    for (let attempt = 0; ; attempt++) {
      if (this.pending.get(local.client_id) !== entry) return; // confirmed meanwhile
      try {
        const accepted = await this.api.postMessage(local.chat_id, {
          content: local.content,
          client_id: local.client_id,
          ...(local.reply_to ? { reply_to: local.reply_to } : {}),
          ...(local.thread_root_id ? { thread_root_id: local.thread_root_id } : {}),
          ...(local.attachment_ids?.length ? { attachment_ids: local.attachment_ids } : {}),
        });
        if (this.pending.get(local.client_id) !== entry) return;
        local.id = accepted.id;
        this.emit('local', { ...local });
        // With a live connection the event is the confirmation; without one, read it back soon.
        const wait = this.live.status.state === 'open' ? (this.options.confirmAfterMs ?? 4000) : 250;
        entry.confirmTimer = setTimeout(() => void this.confirm(entry, 0), wait);
        return;
      } catch (err) {
        // Network errors, 429 and 5xx are safe to retry: the same client_id never stores twice.
        const retryable = err instanceof FechatterError && (err.retryable || err.status >= 500);
        if (!retryable || attempt + 1 >= attempts) return this.fail(entry, err as Error);
        const wait = (err as FechatterError).retryAfter !== undefined ? (err as FechatterError).retryAfter! * 1000 : backoffDelay(attempt, 500, 15_000);
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  /** No event yet: read the message back (it may simply not be persisted yet). */
  private async confirm(entry: PendingSend, round: number): Promise<void> {
    if (this.pending.get(entry.local.client_id) !== entry || !entry.local.id) return;
    try {
      const message = await this.api.getMessage(entry.local.id);
      if (this.note(message)) this.emit('message', message);
      return;
    } catch (err) {
      if (!(err instanceof FechatterError) || (err.status !== 404 && !err.retryable)) return this.fail(entry, err as Error);
    }
    entry.confirmTimer = setTimeout(() => void this.confirm(entry, round + 1), Math.min(5000, 250 * 2 ** round));
  }

  private fail(entry: PendingSend, error: Error): void {
    if (this.pending.get(entry.local.client_id) !== entry) return;
    this.pending.delete(entry.local.client_id);
    clearTimeout(entry.confirmTimer);
    entry.local.state = 'failed';
    entry.local.error = error;
    this.emit('local', { ...entry.local });
    entry.reject(error);
  }

  /** Records a stored message; returns false when it was seen before. Settles a matching send. */
  private note(message: Message): boolean {
    const first = !this.seen.has(message.id);
    if (first) {
      this.seen.add(message.id);
      if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value as string);
    }
    if (message.seq > (this.lastSeq.get(message.chat_id) ?? 0)) this.lastSeq.set(message.chat_id, message.seq);
    const entry = message.client_id ? this.pending.get(message.client_id) : undefined;
    if (entry && entry.local.chat_id === message.chat_id) {
      this.pending.delete(message.client_id!);
      clearTimeout(entry.confirmTimer);
      Object.assign(entry.local, { state: 'sent', id: message.id, message });
      this.emit('local', { ...entry.local });
      entry.resolve(message);
    }
    return first;
  }

  private onEvent(event: ChatEvent): void {
    if (event.type === 'message.created') {
      if (!this.note(event.data)) return; // already delivered (history, resync or a repeat)
      this.emit('message', event.data);
    }
    // My own profile changed elsewhere (another tab or device): keep `user` current.
    if (event.type === 'user.updated' && this.user && event.data.user.id === this.user.id) this.changeUser(event.data.user);
    this.emit('event', event);
    (this.emit as (type: EventType, e: ChatEvent) => void)(event.type, event);
  }

  /**
   * The live connection could not replay what we missed: fetch it over REST for every chat we
   * have seen, emit it as `message`, then let the app refetch the rest (`resync`).
   */
  private async resync(): Promise<void> {
    await Promise.all(
      [...this.lastSeq.entries()].map(async ([chatId, after]) => {
        try {
          for (let cursor = after; ;) {
            const page = await this.api.listMessages(chatId, { after: cursor, limit: 200 });
            for (const m of page.items) if (this.note(m)) this.emit('message', m);
            if (!page.has_more || page.items.length === 0) break;
            cursor = page.items[page.items.length - 1].seq;
          }
        } catch (err) {
          this.emit('error', err as Error);
        }
      }),
    );
    this.emit('resync');
  }

  private changeUser(user: User): void {
    this.user = { ...this.user, ...user };
    this.emit('user', this.user);
  }

  private setUser(user: User): void {
    this.user = user;
    this.emit('session', user);
  }
}
