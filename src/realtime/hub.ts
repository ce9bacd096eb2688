// The connection registry of one fanout process: user -> connections (for the per-user limit
// and for membership events about a user), chat -> connections, workspace -> connections.
// dispatch() routes each stream event only to the connections that may want it (a user-scoped
// event, one with `user_id`, only to that user's); the connection itself makes the final
// decision (connection.ts).
import { RateLimitedError } from '../errors.js';
import { membershipChanges, type AccessChange, type EventEnvelope } from '../infra/events.js';
import type { Connection, ConnectionIndex } from './connection.js';
import type { Delivery } from './delivery.js';

function addTo<K>(map: Map<K, Set<Connection>>, key: K, conn: Connection): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(conn);
}

function removeFrom<K>(map: Map<K, Set<Connection>>, key: K, conn: Connection): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(conn);
  if (set.size === 0) map.delete(key);
}

/** What both transports answer past the per-user connection limit (Hub.canAccept). */
export const tooManyConnections = () => new RateLimitedError(5, 'Too many open connections for this user.');

export interface HubEvents {
  opened(conn: Connection): void;
  closed(conn: Connection): void;
  /** The connection's user joined a workspace of shard `change.shard` (several shards only). */
  joinedShard(conn: Connection, change: AccessChange): void;
}

export class Hub implements ConnectionIndex {
  private readonly byUser = new Map<string, Set<Connection>>();
  private readonly byChat = new Map<string, Set<Connection>>();
  private readonly byWorkspace = new Map<string, Set<Connection>>();
  /** Connections still replaying: they buffer every event and filter it when they go live. */
  private readonly starting = new Set<Connection>();
  /** Shard -> live connections catching it up: they buffer every event of it. */
  private readonly catchingUp = new Map<number, Set<Connection>>();
  private readonly all = new Set<Connection>();

  constructor(
    private readonly limitPerUser: number,
    private readonly events: HubEvents,
  ) {}

  get size(): number {
    return this.all.size;
  }

  /** The user's open connections on this process. */
  countOf(userId: string): number {
    return this.byUser.get(userId)?.size ?? 0;
  }

  users(): Iterable<string> {
    return this.byUser.keys();
  }

  /** Per-user limit, per process. Check and add in the same tick so handshakes cannot race past it. */
  canAccept(userId: string): boolean {
    return (this.byUser.get(userId)?.size ?? 0) < this.limitPerUser;
  }

  add(conn: Connection): void {
    this.all.add(conn);
    this.starting.add(conn);
    addTo(this.byUser, conn.userId, conn);
    this.events.opened(conn);
  }

  remove(conn: Connection): void {
    if (!this.all.delete(conn)) return;
    this.starting.delete(conn);
    removeFrom(this.byUser, conn.userId, conn);
    for (const chatId of conn.chats.keys()) removeFrom(this.byChat, chatId, conn);
    for (const workspaceId of conn.workspaces.keys()) removeFrom(this.byWorkspace, workspaceId, conn);
    this.events.closed(conn);
  }

  live(conn: Connection): void {
    this.starting.delete(conn);
  }

  catching(conn: Connection, shard: number, on: boolean): void {
    if (on && this.all.has(conn)) addTo(this.catchingUp, shard, conn);
    else removeFrom(this.catchingUp, shard, conn);
  }

  /** Every shard some connection here reads or is about to (the rest need no reader). */
  shardsInUse(): Set<number> {
    const shards = new Set<number>();
    for (const conn of this.all) for (const k of conn.needs) shards.add(k);
    return shards;
  }

  /** A changes-stream entry: a workspace join may need a shard the user's connections do not read yet. */
  dispatchChange(change: AccessChange): void {
    if (change.event.type !== 'workspace.member_joined') return;
    for (const conn of this.byUser.get(String(change.event.data.user_id)) ?? []) this.events.joinedShard(conn, change);
  }

  indexChat(conn: Connection, chatId: string): void {
    if (this.all.has(conn)) addTo(this.byChat, chatId, conn);
  }

  unindexChat(conn: Connection, chatId: string): void {
    removeFrom(this.byChat, chatId, conn);
  }

  indexWorkspace(conn: Connection, workspaceId: string): void {
    if (this.all.has(conn)) addTo(this.byWorkspace, workspaceId, conn);
  }

  unindexWorkspace(conn: Connection, workspaceId: string): void {
    removeFrom(this.byWorkspace, workspaceId, conn);
  }

  dispatch(d: Delivery): void {
    const e = d.envelope;
    // Users a membership event adds to the chat or workspace: their connections are not indexed there yet.
    const joining =
      e.type === 'resync_required' || e.workspace_id === null
        ? []
        : membershipChanges(e as EventEnvelope)
            .filter((c) => c.kind === 'join')
            .map((c) => c.user_id);
    const audience = this.audienceOf(e);
    const catching = this.catchingUp.size ? this.catchingUp.get(e.shard ?? 0) : undefined;

    if (joining.length === 0 && this.starting.size === 0 && !catching) {
      // The common case: each connection once, no index changes except leaves (deleting the
      // current element while iterating a Set is safe).
      if (audience) for (const conn of audience) conn.offer(d);
      return;
    }
    const seen = new Set<Connection>();
    const visit = (conn: Connection) => {
      if (seen.has(conn)) return;
      seen.add(conn);
      conn.offer(d);
    };
    for (const conn of this.starting) visit(conn);
    for (const conn of catching ?? []) visit(conn);
    for (const userId of joining) for (const conn of [...(this.byUser.get(userId) ?? [])]) visit(conn);
    const current = this.audienceOf(e);
    if (current) for (const conn of [...current]) visit(conn);
  }

  /** Who may want the event: its user's connections, else its chat's, else its workspace's (the connection still checks). */
  private audienceOf(e: Delivery['envelope']): Set<Connection> | undefined {
    if (e.user_id !== undefined) return this.byUser.get(e.user_id);
    return e.chat_id !== null ? this.byChat.get(e.chat_id) : e.workspace_id !== null ? this.byWorkspace.get(e.workspace_id) : undefined;
  }

  heartbeat(): void {
    for (const conn of this.all) conn.transport.heartbeat();
  }

  connections(): Connection[] {
    return [...this.all];
  }
}
