// What the page knows about the open workspace, kept current by the SDK's events. Views
// subscribe to named changes and re-render only their part.
import type { Chat, ChatEvent, LocalMessage, Member, Message, Pin, Reaction, Role, ThreadCounts, ThreadState, User } from '@fechatter/sdk';
import { client } from './session.js';

export interface Timeline {
  items: Message[];
  ids: Set<string>;
  hasMore: boolean;
  loaded: boolean;
  loading: boolean;
}

/** An open thread: its root and replies (oldest first), loaded when the panel opens. */
export interface ThreadView {
  root: Message | null;
  items: Message[];
  ids: Set<string>;
  loaded: boolean;
}

export type Change =
  | 'chats'
  | 'members'
  | 'presence'
  | 'me'
  | 'mentions'
  | 'saved'
  | `messages:${string}`
  | `typing:${string}`
  | `receipts:${string}`
  | `pins:${string}`
  | `thread:${string}`;

/** A message as the server sends it inside a reply's message.created (with its root's counts). */
type WithThread = Message & { thread?: ThreadCounts };

/** Does this message notify me by mention (my handle, @channel or @here)? The server already
 * dropped mentions of non-members and unauthorized @channel, so the list is what reached people. */
export function mentionsUser(m: Message, userId: string): boolean {
  if (m.sender_id === userId || m.deleted) return false;
  return (m.mentions ?? []).some((x) => (x.type === 'user' ? x.user_id === userId : true));
}

const TYPING_SHOWN_MS = 6000;

export class Store {
  chats = new Map<string, Chat>();
  members = new Map<string, Member>();
  presence = new Map<string, 'online' | 'offline'>();
  /** Member ids of direct and group chats, for their names. */
  chatMembers = new Map<string, string[]>();
  timelines = new Map<string, Timeline>();
  receipts = new Map<string, Map<string, number>>();
  typing = new Map<string, Map<string, number>>();
  /** Locally echoed messages not yet in a timeline (pending or failed), by client_id. */
  local = new Map<string, LocalMessage>();
  /** Pins per chat (loaded when the chat opens), by message id. */
  pins = new Map<string, Map<string, Pin>>();
  /** Ids of the messages I saved (first page at load, then events). */
  saved = new Set<string>();
  /** Threads opened in this session, by root id, and my state of each. */
  threads = new Map<string, ThreadView>();
  threadStates = new Map<string, ThreadState>();
  current: string | null = null;
  private listeners = new Set<(change: Change) => void>();
  private offs: Array<() => void> = [];

  constructor(
    readonly wid: string,
    readonly role: Role,
  ) {}

  get me(): string {
    return client.user!.id;
  }

  subscribe(listener: (change: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  changed(change: Change): void {
    for (const l of this.listeners) l(change);
  }

  async load(): Promise<void> {
    this.offs.push(
      client.on('event', (e) => this.apply(e)),
      client.on('message', (m) => this.addMessages(m.chat_id, [m])),
      client.on('local', (l) => this.onLocal(l)),
      client.on('resync', () => void this.refetch()),
      client.on('user', (u) => this.updateUser(u)),
    );
    await Promise.all([this.loadChats(), this.loadMembers(), this.loadSaved()]);
  }

  async loadSaved(): Promise<void> {
    try {
      const { items } = await client.api.listSaved({ limit: 200 });
      this.saved = new Set(items.map((x) => x.message.id));
      this.changed('saved');
    } catch {
      // Saved marks show once the next event or load brings them.
    }
  }

  async loadPins(chatId: string): Promise<void> {
    const { items } = await client.api.listPins(chatId);
    this.pins.set(chatId, new Map(items.map((p) => [p.message.id, p])));
    this.changed(`pins:${chatId}`);
    this.changed(`messages:${chatId}`);
  }

  isPinned(m: Message): boolean {
    return this.pins.get(m.chat_id)?.has(m.id) ?? false;
  }

  thread(rootId: string): ThreadView {
    let t = this.threads.get(rootId);
    if (!t) this.threads.set(rootId, (t = { root: null, items: [], ids: new Set(), loaded: false }));
    return t;
  }

  /** Loads a thread (root, replies, my state); newer replies then arrive as events. */
  async loadThread(rootId: string): Promise<ThreadView> {
    const t = this.thread(rootId);
    let after = 0;
    for (;;) {
      const page = await client.api.getThread(rootId, { after, limit: 200 });
      t.root = page.root;
      this.threadStates.set(rootId, page.thread);
      for (const m of page.items) {
        if (t.ids.has(m.id)) continue;
        t.ids.add(m.id);
        t.items.push(m);
      }
      if (!page.has_more || page.items.length === 0) break;
      after = page.items[page.items.length - 1].seq;
    }
    t.items.sort((a, b) => a.seq - b.seq);
    t.loaded = true;
    this.changed(`thread:${rootId}`);
    return t;
  }

  /** Every copy of a message this page holds (the chat's timeline, a thread's root or replies). */
  private copies(chatId: string | null, id: string): Array<{ list: Message[]; index: number; thread: string | null }> {
    const out: Array<{ list: Message[]; index: number; thread: string | null }> = [];
    const t = chatId ? this.timelines.get(chatId) : undefined;
    const i = t?.items.findIndex((m) => m.id === id) ?? -1;
    if (t && i >= 0) out.push({ list: t.items, index: i, thread: null });
    for (const [rootId, th] of this.threads) {
      if (th.root?.id === id) out.push({ list: [th.root], index: 0, thread: rootId });
      const j = th.items.findIndex((m) => m.id === id);
      if (j >= 0) out.push({ list: th.items, index: j, thread: rootId });
    }
    return out;
  }

  /** Changes every copy of a message (a new object each time, so views see the change) and tells the views. */
  patchMessage(chatId: string | null, id: string, patch: (m: Message) => Message): void {
    const threadsTouched = new Set<string>();
    let chat = chatId;
    for (const c of this.copies(chatId, id)) {
      const next = patch(c.list[c.index]);
      c.list[c.index] = next;
      chat ??= next.chat_id;
      if (c.thread) {
        threadsTouched.add(c.thread);
        const th = this.threads.get(c.thread)!;
        if (th.root?.id === id) th.root = next;
      }
    }
    const pin = chat ? this.pins.get(chat)?.get(id) : undefined;
    if (pin) pin.message = patch(pin.message);
    if (chat) this.changed(`messages:${chat}`);
    for (const rootId of threadsTouched) this.changed(`thread:${rootId}`);
  }

  /** A reply arrived or went: its root shows the new count. */
  private applyThreadCounts(chatId: string, counts: ThreadCounts): void {
    this.patchMessage(chatId, counts.root_id, (m) => ({ ...m, reply_count: counts.reply_count, last_reply_at: counts.last_reply_at }));
  }

  private setReaction(chatId: string | null, messageId: string, reaction: Reaction): void {
    this.patchMessage(chatId, messageId, (m) => {
      const reactions = (m.reactions ?? []).filter((r) => r.emoji !== reaction.emoji);
      const at = (m.reactions ?? []).findIndex((r) => r.emoji === reaction.emoji);
      if (reaction.count > 0) reactions.splice(at >= 0 ? at : reactions.length, 0, reaction);
      return { ...m, reactions };
    });
  }

  dispose(): void {
    for (const off of this.offs) off();
    this.listeners.clear();
  }

  async loadChats(): Promise<void> {
    const { items } = await client.api.listChats(this.wid);
    this.chats = new Map(items.map((c) => [c.id, c]));
    await Promise.all(items.filter((c) => (c.type === 'direct' || c.type === 'group') && !this.chatMembers.has(c.id)).map((c) => this.loadChatMembers(c.id)));
    this.changed('chats');
  }

  async loadChatMembers(chatId: string): Promise<void> {
    const { items } = await client.api.listChatMembers(chatId, { limit: 500 });
    this.chatMembers.set(
      chatId,
      items.map((m) => m.user.id),
    );
    for (const m of items) if (!this.members.has(m.user.id)) this.members.set(m.user.id, { user: m.user, role: 'member', joined_at: m.joined_at });
  }

  async loadMembers(): Promise<void> {
    const members = await client.api.allMembers(this.wid);
    for (const m of members) {
      this.members.set(m.user.id, m);
      if (m.presence) this.presence.set(m.user.id, m.presence);
    }
    this.presence.set(this.me, 'online');
    this.changed('members');
  }

  /** A user as last seen (me from the client, others from the member list). */
  user(userId: string): User | undefined {
    if (userId === this.me && client.user) return client.user;
    return this.members.get(userId)?.user;
  }

  /** The status emoji to show beside a name (the server nulls expired ones; check again locally). */
  statusEmoji(userId: string): string {
    const status = this.user(userId)?.status;
    if (!status?.emoji) return '';
    if (status.expires_at && Date.parse(status.expires_at) <= Date.now()) return '';
    return status.emoji;
  }

  /** Members of a chat (loaded once, for @ autocomplete and names). */
  async chatMemberIds(chatId: string): Promise<string[]> {
    if (!this.chatMembers.has(chatId)) await this.loadChatMembers(chatId);
    return this.chatMembers.get(chatId) ?? [];
  }

  private updateUser(user: User): void {
    const member = this.members.get(user.id);
    if (member) member.user = { ...member.user, ...user };
    this.changed(user.id === this.me ? 'me' : 'members');
    if (user.id === this.me) this.changed('members');
  }

  name(userId: string): string {
    if (userId === this.me) return client.user?.display_name ?? 'You';
    const member = this.members.get(userId);
    if (!member) this.learn();
    return member?.user.display_name ?? 'Someone';
  }

  private learning = false;

  /** Someone we do not know yet (joined after we loaded): reload the member list once. */
  private learn(): void {
    if (this.learning) return;
    this.learning = true;
    setTimeout(() => {
      this.loadMembers().finally(() => {
        this.learning = false;
      });
    }, 50);
  }

  chatName(chat: Chat): string {
    if (chat.type === 'public' || chat.type === 'private') return chat.name ?? 'unnamed';
    const others = (this.chatMembers.get(chat.id) ?? []).filter((id) => id !== this.me);
    if (others.length === 0) return chat.name ?? 'Just you';
    return others.map((id) => this.name(id)).join(', ');
  }

  /** The other person of a direct chat (for its presence dot). */
  peer(chat: Chat): string | null {
    if (chat.type !== 'direct') return null;
    return (this.chatMembers.get(chat.id) ?? []).find((id) => id !== this.me) ?? null;
  }

  timeline(chatId: string): Timeline {
    let t = this.timelines.get(chatId);
    if (!t) this.timelines.set(chatId, (t = { items: [], ids: new Set(), hasMore: true, loaded: false, loading: false }));
    return t;
  }

  /** Newest page first; then older pages as the user scrolls up. */
  async loadHistory(chatId: string, older = false): Promise<number> {
    const t = this.timeline(chatId);
    if (t.loading || (older && !t.hasMore)) return 0;
    t.loading = true;
    try {
      const before = older && t.items.length ? t.items[0].seq : undefined;
      const page = await client.history(chatId, { before, limit: 50 });
      if (!older) t.loaded = true;
      t.hasMore = page.has_more;
      return this.addMessages(chatId, page.items, false);
    } finally {
      t.loading = false;
      this.changed(`messages:${chatId}`);
    }
  }

  async loadReceipts(chatId: string): Promise<void> {
    const { items } = await client.api.receipts(chatId);
    this.receipts.set(chatId, new Map(items.map((r) => [r.user_id, r.last_read_seq])));
    this.changed(`receipts:${chatId}`);
  }

  /** Inserts messages in seq order, skipping ones already there; returns how many were new. */
  addMessages(chatId: string, messages: Message[], notify = true): number {
    const chat = this.chats.get(chatId);
    let added = 0;
    const t = this.timeline(chatId);
    for (const m of messages as WithThread[]) {
      if (m.thread_root_id) {
        this.addReply(m, notify);
        continue;
      }
      if (t.ids.has(m.id)) continue;
      if (chat && m.seq > chat.last_seq) {
        chat.last_seq = m.seq;
        chat.last_message = m;
        if (m.sender_id !== this.me && !m.deleted && m.seq > (chat.last_read_seq ?? 0)) {
          chat.unread_count = (chat.unread_count ?? 0) + 1;
          if (notify && mentionsUser(m, this.me)) {
            chat.mention_count = (chat.mention_count ?? 0) + 1;
            this.changed('mentions');
          }
        }
      }
      // Only a loaded timeline takes new messages; an unopened chat loads its history when opened.
      if (!t.loaded && notify) continue;
      t.ids.add(m.id);
      t.items.push(m);
      added++;
      if (m.client_id) this.local.delete(m.client_id);
      this.typing.get(chatId)?.delete(m.sender_id);
    }
    if (added) t.items.sort((a, b) => a.seq - b.seq);
    if (notify) {
      this.changed(`messages:${chatId}`);
      this.changed('chats');
    }
    return added;
  }

  /** A reply: into its thread when that is loaded; its root's count from the event; a mention still counts. */
  private addReply(m: WithThread, notify: boolean): void {
    if (m.client_id) this.local.delete(m.client_id);
    this.typing.get(m.chat_id)?.delete(m.sender_id);
    const th = this.threads.get(m.thread_root_id!);
    if (th && !th.ids.has(m.id)) {
      th.ids.add(m.id);
      th.items.push(m);
      th.items.sort((a, b) => a.seq - b.seq);
      this.changed(`thread:${m.thread_root_id}`);
    }
    if (m.thread) this.applyThreadCounts(m.chat_id, m.thread);
    const chat = this.chats.get(m.chat_id);
    if (chat && m.seq > chat.last_seq) {
      chat.last_seq = m.seq;
      if (notify && mentionsUser(m, this.me) && m.seq > (chat.last_read_seq ?? 0)) {
        chat.mention_count = (chat.mention_count ?? 0) + 1;
        this.changed('mentions');
        this.changed('chats');
      }
    }
  }

  /** Unread and mention counts from the server (after reading part of a chat elsewhere). */
  async loadUnread(): Promise<void> {
    try {
      const unread = await client.api.unread(this.wid);
      for (const u of unread.chats) {
        const chat = this.chats.get(u.chat_id);
        if (!chat) continue;
        chat.unread_count = u.unread_count;
        chat.mention_count = u.mention_count ?? 0;
      }
      this.changed('chats');
      this.changed('mentions');
    } catch {
      // Counts catch up on the next load.
    }
  }

  /** Moves my read watermark to the newest message of the open chat. */
  markRead(chatId: string): void {
    const chat = this.chats.get(chatId);
    const t = this.timelines.get(chatId);
    const newest = t?.items.at(-1)?.seq ?? 0;
    if (!chat || newest <= (chat.last_read_seq ?? 0)) return;
    chat.last_read_seq = newest;
    chat.unread_count = 0;
    if (chat.mention_count) this.changed('mentions');
    chat.mention_count = 0;
    this.changed('chats');
    client.api.markRead(chatId, newest).catch(() => {
      // Not critical: the next read mark moves it further.
    });
  }

  private onLocal(local: LocalMessage): void {
    if (local.state === 'sent' && local.message) {
      this.local.delete(local.client_id);
      this.addMessages(local.chat_id, [local.message]);
      return;
    }
    this.local.set(local.client_id, local);
    this.changed(`messages:${local.chat_id}`);
  }

  private apply(event: ChatEvent): void {
    // Ids are strings in the contract; be lenient with a producer that sends numbers.
    const e = {
      ...event,
      workspace_id: event.workspace_id === null ? null : String(event.workspace_id),
      chat_id: event.chat_id === null ? null : String(event.chat_id),
    } as ChatEvent;
    if (e.workspace_id !== null && e.workspace_id !== this.wid) return;
    switch (e.type) {
      case 'message.updated':
        this.patchMessage(e.data.chat_id, e.data.id, (m) => ({ ...m, ...e.data }));
        break;
      case 'message.deleted': {
        const gone = (m: Message): Message => ({ ...m, deleted: true, content: '', rendered: '', link_previews: [], attachments: [], reactions: [] });
        this.patchMessage(e.chat_id, e.data.id, gone);
        if (e.chat_id && this.pins.get(e.chat_id)?.delete(e.data.id)) this.changed(`pins:${e.chat_id}`);
        if (e.chat_id && e.data.thread) this.applyThreadCounts(e.chat_id, e.data.thread);
        break;
      }
      case 'message.link_previews':
        this.patchMessage(e.chat_id, e.data.id, (m) => ({ ...m, link_previews: e.data.link_previews }));
        break;
      case 'reaction.added':
      case 'reaction.removed':
        this.setReaction(e.chat_id, e.data.message_id, e.data.reaction);
        break;
      case 'message.pinned': {
        const chatId = e.data.message.chat_id;
        const map = this.pins.get(chatId);
        if (map) map.set(e.data.message_id, { message: e.data.message, pinned_by: e.data.pinned_by, pinned_at: e.data.pinned_at });
        this.changed(`pins:${chatId}`);
        this.changed(`messages:${chatId}`);
        break;
      }
      case 'message.unpinned':
        if (e.chat_id) {
          this.pins.get(e.chat_id)?.delete(e.data.message_id);
          this.changed(`pins:${e.chat_id}`);
          this.changed(`messages:${e.chat_id}`);
        }
        break;
      case 'message.saved':
      case 'message.unsaved':
        if (e.type === 'message.saved') this.saved.add(e.data.message_id);
        else this.saved.delete(e.data.message_id);
        this.changed('saved');
        if (e.chat_id) this.changed(`messages:${e.chat_id}`);
        for (const [rootId, th] of this.threads) if (th.root?.id === e.data.message_id || th.ids.has(e.data.message_id)) this.changed(`thread:${rootId}`);
        break;
      case 'thread.updated':
        this.threadStates.set(e.data.root_id, e.data);
        this.changed(`thread:${e.data.root_id}`);
        break;
      case 'receipt.updated': {
        if (!e.chat_id) break;
        const map = this.receipts.get(e.chat_id) ?? new Map<string, number>();
        map.set(e.data.user_id, Math.max(map.get(e.data.user_id) ?? 0, e.data.last_read_seq));
        this.receipts.set(e.chat_id, map);
        const chat = this.chats.get(e.chat_id);
        if (chat && e.data.user_id === this.me && e.data.last_read_seq >= (chat.last_read_seq ?? 0)) {
          chat.last_read_seq = e.data.last_read_seq;
          if (e.data.last_read_seq >= chat.last_seq) {
            chat.unread_count = 0;
            chat.mention_count = 0;
          } else void this.loadUnread(); // read part of it elsewhere: ask the server what is left
          this.changed('chats');
        }
        this.changed(`receipts:${e.chat_id}`);
        break;
      }
      case 'typing': {
        if (!e.chat_id || e.data.user_id === this.me) break;
        const chatId = e.chat_id;
        const map = this.typing.get(chatId) ?? new Map<string, number>();
        // Local clock: the server's expires_at may be skewed against ours.
        map.set(e.data.user_id, Date.now() + TYPING_SHOWN_MS);
        this.typing.set(chatId, map);
        this.changed(`typing:${chatId}`);
        setTimeout(() => this.changed(`typing:${chatId}`), TYPING_SHOWN_MS + 50);
        break;
      }
      case 'user.updated':
        if (e.data.user.id !== this.me) this.updateUser(e.data.user);
        break;
      case 'notifications.updated': {
        const chat = this.chats.get(e.data.chat_id);
        if (chat) {
          chat.notify_level = e.data.level;
          chat.muted = e.data.muted;
          this.changed('chats');
        }
        break;
      }
      case 'presence.updated':
        this.presence.set(e.data.user_id, e.data.status);
        this.changed('presence');
        break;
      case 'chat.created':
      case 'chat.updated':
      case 'chat.member_joined':
      case 'chat.member_left':
        if (e.chat_id && e.type !== 'chat.created' && e.type !== 'chat.updated') this.chatMembers.delete(e.chat_id);
        void this.loadChats();
        if (e.type === 'chat.member_joined' && !this.members.has(e.data.user_id)) this.learn();
        break;
      case 'workspace.member_joined':
      case 'workspace.member_updated': {
        const { user_id: _, ...member } = e.data;
        this.members.set(member.user.id, { ...this.members.get(member.user.id), ...member });
        this.changed('members');
        break;
      }
      case 'workspace.member_left':
        // Someone else left; when it is me, the chats I was in are gone from the list too.
        this.members.delete(e.data.user_id);
        this.changed('members');
        if (e.data.user_id === this.me) void this.loadChats();
        break;
    }
  }

  /** The connection could not resume: reload what is on screen. */
  private async refetch(): Promise<void> {
    await this.loadChats();
    if (this.current) {
      await this.loadHistory(this.current);
      await this.loadReceipts(this.current);
      await this.loadPins(this.current).catch(() => {});
    }
    for (const [rootId, th] of this.threads) if (th.loaded) await this.loadThread(rootId).catch(() => {});
    await this.loadSaved();
  }
}
