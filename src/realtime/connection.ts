// One client connection (WebSocket or SSE), independent of the transport: what it may receive
// (its user's membership, kept current by the events it processes), where it is in each shard
// it reads (`cursors`, the last event id it has considered there; the client's event id encodes
// them: cursor.ts), and the start-up sequence that makes resume exact. See ARCHITECTURE.md,
// "The event path".
//
// Start-up, in this order, is what makes "no gap, no repeat" hold:
//   1. register with the hub (synchronously, before the client can see the handshake succeed),
//      so every event the reader dispatches from now on is buffered in `pending`;
//   2. load membership from Postgres (a snapshot taken *after* registration, so any membership
//      event missing from it is in `pending` and is applied on top: the last event wins);
//   3. with a last event id, rewind the membership to what it was at that id (from the user's
//      membership log of each shard) and replay each shard after it with XRANGE (replay.ts), so
//      the replay holds exactly the events of chats and workspaces the user belonged to at each event;
//   4. flush `pending`, skipping ids <= the shard's cursor (already replayed), and go live.
// A shard needed later (the user joined a workspace there: a changes-stream entry) is caught up
// the same way while the connection is live, its events buffered in `catching` meanwhile.
import type { Role } from '../domain/access.js';
import { compareEventIds, type MembershipChange } from '../infra/events.js';
import { encodeCursor } from './cursor.js';
import type { Delivery } from './delivery.js';
import type { Membership } from './membership.js';

export type EndReason = 'shutdown' | 'token_expired' | 'session_revoked' | 'slow_consumer' | 'error';

export interface Transport {
  readonly kind: 'ws' | 'sse';
  /** `id`: what the client resumes from (cursor.ts). */
  send(d: Delivery, id: string): void;
  /** Bytes written but not yet handed to the kernel. */
  bufferedBytes(): number;
  /** Called every HEARTBEAT_SECONDS: ws ping (terminating a peer that missed the last pong), SSE comment. */
  heartbeat(): void;
  /** Ends the connection; the transport's close handler then calls Connection.closed(). */
  end(reason: EndReason): void;
}

/** The hub's indexes, updated as the connection's membership changes. */
export interface ConnectionIndex {
  indexChat(conn: Connection, chatId: string): void;
  unindexChat(conn: Connection, chatId: string): void;
  indexWorkspace(conn: Connection, workspaceId: string): void;
  unindexWorkspace(conn: Connection, workspaceId: string): void;
  live(conn: Connection): void;
  /** While a live connection catches up a shard, every event of that shard is offered to it. */
  catching(conn: Connection, shard: number, on: boolean): void;
  remove(conn: Connection): void;
}

/** Live events buffered while a connection replays; past this the client is asked to come back. */
const MAX_PENDING = 10_000;

export class Connection {
  state: 'starting' | 'live' | 'closed' = 'starting';
  /** chat id -> workspace id */
  readonly chats = new Map<string, string>();
  /** workspace id -> the user's role there */
  readonly workspaces = new Map<string, Role>();
  /** Shard -> id of the last event considered there (sent or filtered out); nothing at or below it is sent again. */
  readonly cursors = new Map<number, string>();
  /** The changes-stream position this connection started from (several shards only). */
  changesFrom: string | null = null;
  /** Shards this connection reads: those of its workspaces, of its cursor, and any it catches up. */
  readonly needs = new Set<number>();
  private pending: Delivery[] = [];
  /** Live events of shards being caught up, processed once the catch-up is done. */
  private readonly catching = new Map<number, Delivery[]>();
  /**
   * Shards where a replay (XRANGE) may have read past the stream reader: live events up to the
   * cursor can still arrive from the reader and must be skipped. Cleared by the first newer
   * live event, so the live path of an ordinary connection does no id comparisons.
   */
  private readonly behind = new Set<number>();
  private expiry?: NodeJS.Timeout;
  /** Date.now() at registration: a shard reader started later may have missed events for it. */
  readonly registeredAt = Date.now();

  constructor(
    readonly userId: string,
    /** The session of the token that opened it (sessions.ts): revoking it ends the connection. */
    readonly sessionId: string,
    readonly transport: Transport,
    private readonly index: ConnectionIndex,
    private readonly sendBufferBytes: number,
    tokenExpiresAt: number,
    private readonly shardCount: number,
    /** Metrics hook, called after each event written to this connection. */
    private readonly onDelivered: (conn: Connection, d: Delivery) => void,
  ) {
    // A connection outliving its token would keep receiving with revoked rights.
    const ms = tokenExpiresAt * 1000 - Date.now();
    this.expiry = setTimeout(() => this.end('token_expired'), Math.max(0, ms));
  }

  /** The client's resume id: with one shard the stream id itself. */
  clientId(): string {
    return encodeCursor(this.shardCount, { shards: this.cursors, changes: this.changesFrom });
  }

  setMembership(membership: Membership): void {
    for (const [chatId, workspaceId] of membership.chats) this.join(chatId, workspaceId);
    for (const [workspaceId, role] of membership.workspaces) this.addWorkspace(workspaceId, role);
  }

  /** Back to a loaded snapshot, dropping what a rewind added (a resume that ends in resync). */
  resetMembership(membership: Membership): void {
    for (const chatId of [...this.chats.keys()]) if (!membership.chats.has(chatId)) this.leave(chatId);
    for (const workspaceId of [...this.workspaces.keys()]) if (!membership.workspaces.has(workspaceId)) this.leaveWorkspace(workspaceId);
    this.setMembership(membership);
  }

  /**
   * Step 3 of start-up, before a replay: turns the loaded (current) membership into the one the
   * user had at the resume cursor, given every membership change of the user after it, oldest
   * first. The first change of a chat or workspace says what it was before: a join means "not a
   * member yet", a leave means "still a member". (A workspace left after the cursor comes back
   * with the least role, guest, for the replay.)
   */
  rewindMembership(changes: MembershipChange[]): void {
    const seen = new Set<string>();
    for (const c of changes) {
      const key = c.chat_id ?? `workspace:${c.workspace_id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (c.chat_id !== null) {
        if (c.kind === 'join') this.leave(c.chat_id);
        else this.join(c.chat_id, c.workspace_id);
      } else if (c.kind === 'join') {
        if (this.workspaces.delete(c.workspace_id)) this.index.unindexWorkspace(this, c.workspace_id);
      } else if (!this.workspaces.has(c.workspace_id)) this.addWorkspace(c.workspace_id, 'guest');
    }
  }

  /** From the hub: buffer while starting (or while its shard is caught up), otherwise process right away. */
  offer(d: Delivery): void {
    if (this.state === 'live') {
      const buffer = this.catching.size ? this.catching.get(d.envelope.shard ?? 0) : undefined;
      if (!buffer) return this.process(d, false);
      buffer.push(d);
      if (buffer.length > MAX_PENDING) this.end('slow_consumer');
    } else if (this.state === 'starting') {
      this.pending.push(d);
      if (this.pending.length > MAX_PENDING) this.end('slow_consumer');
    }
  }

  /**
   * Applies an event to this connection: membership first for a join (so the joining user gets
   * the join event), delivery if allowed, membership after for a leave (so the leaving user
   * gets the leave event and nothing after it). `dedupe` is for replay and buffer flushes,
   * where ids may repeat; live events arrive once and in order per shard (see behind).
   */
  process(d: Delivery, dedupe: boolean): void {
    const e = d.envelope;
    const shard = e.shard ?? 0;
    const cursor = this.cursors.get(shard);
    if ((dedupe || this.behind.has(shard)) && cursor !== undefined && compareEventIds(e.id, cursor) <= 0) return;
    if (!dedupe) this.behind.delete(shard);
    this.cursors.set(shard, e.id);
    const data = e.data as { user_id?: unknown; member_ids?: unknown; role?: Role };
    const aboutMe = data.user_id !== undefined && String(data.user_id) === this.userId;
    const workspaceId = e.workspace_id;
    if (workspaceId !== null) {
      if (e.chat_id !== null && e.type === 'chat.member_joined' && aboutMe) this.join(e.chat_id, workspaceId);
      else if (e.chat_id !== null && e.type === 'chat.created' && Array.isArray(data.member_ids) && data.member_ids.some((m) => String(m) === this.userId)) {
        this.join(e.chat_id, workspaceId);
      } else if ((e.type === 'workspace.member_joined' || e.type === 'workspace.member_updated') && aboutMe && data.role) {
        this.addWorkspace(workspaceId, data.role);
      }
    }
    // The typist's own tabs already know they are typing.
    if (e.type === 'typing' && aboutMe) return;
    // A user-scoped event is for its user alone, and only where they may see its chat or workspace.
    if ((e.user_id === undefined || e.user_id === this.userId) && this.allowed(e.type, workspaceId, e.chat_id, aboutMe)) {
      this.transport.send(d, this.shardCount === 1 ? e.id : this.clientId());
      this.onDelivered(this, d);
      if (!dedupe && this.transport.bufferedBytes() > this.sendBufferBytes) this.end('slow_consumer');
    }
    if (aboutMe && e.type === 'chat.member_left' && e.chat_id !== null) this.leave(e.chat_id);
    if (aboutMe && e.type === 'workspace.member_left' && workspaceId !== null) this.leaveWorkspace(workspaceId);
  }

  /**
   * Chat events go to the chat's members, workspace events to the workspace's members; the
   * member list and profile events (`workspace.member_*`, `user.updated`) not to guests (who
   * see only people they share a chat with), except those about the guest themself.
   */
  private allowed(type: Delivery['envelope']['type'], workspaceId: string | null, chatId: string | null, aboutMe: boolean): boolean {
    if (chatId !== null) return this.chats.has(chatId);
    if (workspaceId === null) return false;
    const role = this.workspaces.get(workspaceId);
    if (role === undefined) return false;
    return role !== 'guest' || aboutMe || !(type.startsWith('workspace.member_') || type === 'user.updated');
  }

  /** Step 3 gone wrong (nothing to replay from): the client is told to resync, and goes on from `positions`. */
  resync(positions: Map<number, string>, resyncFrame: (id: string) => Delivery): void {
    for (const [k, id] of positions) this.cursors.set(k, id);
    const id = this.clientId();
    this.transport.send(resyncFrame(id), id);
  }

  /**
   * Step 4 of start-up. Synchronous, so no live event can slip in between flush and live. A
   * needed shard the connection has no position in yet starts where its reader is now:
   * everything after that reaches the connection live.
   */
  goLive(positionOf: (shard: number) => string | undefined): void {
    if (this.state !== 'starting') return;
    const pending = this.pending;
    this.pending = [];
    for (const d of pending) {
      if (this.state !== 'starting') return;
      this.process(d, true);
    }
    for (const k of this.needs) {
      const position = positionOf(k);
      if (!this.cursors.has(k) && position !== undefined) this.cursors.set(k, position);
    }
    for (const k of this.cursors.keys()) this.behind.add(k);
    this.state = 'live';
    this.index.live(this);
  }

  /** A live connection starts reading shard k: its live events wait until endCatchUp. */
  beginCatchUp(shard: number): void {
    this.needs.add(shard);
    this.catching.set(shard, []);
    this.index.catching(this, shard, true);
  }

  endCatchUp(shard: number, positionOf: (shard: number) => string | undefined): void {
    const buffer = this.catching.get(shard);
    if (!buffer) return;
    this.catching.delete(shard);
    this.index.catching(this, shard, false);
    for (const d of buffer) {
      if (this.state !== 'live') return;
      this.process(d, true);
    }
    const position = positionOf(shard);
    if (!this.cursors.has(shard) && position !== undefined) this.cursors.set(shard, position);
    this.behind.add(shard);
  }

  /** Whether the connection reads shard k or is about to. */
  reads(shard: number): boolean {
    return this.needs.has(shard);
  }

  /** Waits while the transport holds more than half its budget (replay pages are bulky). */
  async drain(): Promise<void> {
    while (this.state !== 'closed' && this.transport.bufferedBytes() > this.sendBufferBytes / 2) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  end(reason: EndReason): void {
    if (this.state === 'closed') return;
    this.transport.end(reason);
    this.closed();
  }

  /** The transport is gone (either side closed it). Idempotent. */
  closed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.pending = [];
    for (const k of this.catching.keys()) this.index.catching(this, k, false);
    this.catching.clear();
    clearTimeout(this.expiry);
    this.index.remove(this);
  }

  private join(chatId: string, workspaceId: string): void {
    if (!this.chats.has(chatId)) {
      this.chats.set(chatId, workspaceId);
      this.index.indexChat(this, chatId);
    }
    // A chat's members belong to its workspace; the role arrives with the workspace's own events.
    if (!this.workspaces.has(workspaceId)) this.addWorkspace(workspaceId, 'guest');
  }

  private leave(chatId: string): void {
    if (this.chats.delete(chatId)) this.index.unindexChat(this, chatId);
  }

  private addWorkspace(workspaceId: string, role: Role): void {
    if (!this.workspaces.has(workspaceId)) this.index.indexWorkspace(this, workspaceId);
    this.workspaces.set(workspaceId, role);
  }

  /** Removed from a workspace: nothing of it (its chats, its presence) reaches this connection any more. */
  private leaveWorkspace(workspaceId: string): void {
    for (const [chatId, chatWorkspace] of this.chats) if (chatWorkspace === workspaceId) this.leave(chatId);
    if (this.workspaces.delete(workspaceId)) this.index.unindexWorkspace(this, workspaceId);
  }
}
