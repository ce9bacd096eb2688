// One typed method per route of /api/v1 (API.md), grouped as the contract groups them.
import { FechatterError } from './errors.js';
import type { Http } from './http.js';
import type {
  Accepted,
  Attachment,
  Chat,
  ChatAttachment,
  ChatMember,
  ChatType,
  Invitation,
  InvitationPreview,
  Me,
  ListedMember,
  Member,
  MentionItem,
  Message,
  MessageVersion,
  MyChat,
  NotificationSettings,
  NotifyLevel,
  Page,
  Pin,
  PushSubscriptionInput,
  PushSubscriptionRecord,
  Reaction,
  Receipt,
  ResponseBody,
  Role,
  Saved,
  SearchQuery,
  SearchResult,
  Session,
  Thread,
  ThreadState,
  Unread,
  User,
  Webhook,
  WebhookCreated,
  Workspace,
} from './types.js';

const V1 = '/api/v1';
const e = encodeURIComponent;

export interface SignupBody {
  email: string;
  password: string;
  display_name: string;
  /** Optional handle (409 conflict when taken); without it the server derives one from the email. */
  username?: string;
}

export interface UpdateMeBody {
  display_name?: string;
  password?: { current: string; new: string };
  username?: string;
  /** null clears the status. */
  status?: { emoji?: string | null; text?: string | null; expires_at?: string | null } | null;
  /** ISO time; null ends do-not-disturb. */
  dnd_until?: string | null;
}

export interface MentionsQuery {
  workspace_id?: string;
  limit?: number;
  cursor?: string;
}

export interface HistoryQuery {
  before?: number;
  after?: number;
  limit?: number;
}

export interface PostMessageBody {
  content: string;
  client_id: string;
  reply_to?: string;
  /** Reply in the thread of this root message. */
  thread_root_id?: string;
  /** Files uploaded to this chat and not sent yet. */
  attachment_ids?: string[];
}

export interface ThreadQuery {
  after?: number;
  before?: number;
  limit?: number;
}

export class Api {
  constructor(private readonly http: Http) {}

  // --- auth and users -------------------------------------------------------------------------
  async signup(body: SignupBody): Promise<Session> {
    const session = await this.http.request<Session>('POST', `${V1}/auth/signup`, { body, auth: false });
    this.http.setSession(session);
    return session;
  }

  async login(body: { email: string; password: string }): Promise<Session> {
    const session = await this.http.request<Session>('POST', `${V1}/auth/login`, { body, auth: false });
    this.http.setSession(session);
    return session;
  }

  /** Rotates the token pair now (normally done automatically before expiry). */
  refresh() {
    return this.http.refresh();
  }

  /** Ends the session on the server (its tokens stop working everywhere, its sockets close), then here. */
  async logout(): Promise<void> {
    try {
      if (this.http.authenticated) {
        // The route needs a valid access token: an expired one is refreshed first, and the body
        // names the refresh token of that same pair.
        const tokens = await this.http.freshTokens();
        await this.http.request<void>('POST', `${V1}/auth/logout`, { body: { refresh_token: tokens.refresh_token } });
      }
    } catch (err) {
      // 401: the session had already ended (revoked elsewhere or expired); nothing is left to revoke.
      if (!(err instanceof FechatterError && err.status === 401)) throw err;
    } finally {
      this.http.endSession();
    }
  }

  me(): Promise<Me> {
    return this.http.request('GET', `${V1}/me`);
  }

  updateMe(body: UpdateMeBody): Promise<{ user: User }> {
    return this.http.request('PATCH', `${V1}/me`, { body });
  }

  // --- mentions, notification settings, push, webhooks -----------------------------------------
  /** Messages that mention me, newest first; follow next_cursor for older ones. */
  mentions(query: MentionsQuery = {}): Promise<Page<MentionItem>> {
    return this.http.request('GET', `${V1}/me/mentions`, { query: { ...query } });
  }

  chatNotifications(cid: string): Promise<NotificationSettings> {
    return this.http.request('GET', `${V1}/chats/${e(cid)}/notifications`);
  }

  updateChatNotifications(cid: string, body: { level?: NotifyLevel; muted?: boolean }): Promise<NotificationSettings> {
    return this.http.request('PATCH', `${V1}/chats/${e(cid)}/notifications`, { body });
  }

  /** The server's VAPID public key (base64url) for PushManager.subscribe; 404 when push is off. */
  vapidPublicKey(): Promise<{ public_key: string }> {
    return this.http.request('GET', `${V1}/push/vapid-public-key`);
  }

  /** Registers a browser push subscription (the same endpoint again is re-owned by me). */
  createPushSubscription(body: PushSubscriptionInput): Promise<PushSubscriptionRecord> {
    return this.http.request('POST', `${V1}/me/push-subscriptions`, { body });
  }

  listPushSubscriptions(): Promise<{ items: PushSubscriptionRecord[] }> {
    return this.http.request('GET', `${V1}/me/push-subscriptions`);
  }

  deletePushSubscription(id: string): Promise<void> {
    return this.http.request('DELETE', `${V1}/me/push-subscriptions/${e(id)}`);
  }

  /** A webhook for my own notifications; the secret (for Fechatter-Signature) is only returned here. */
  createWebhook(url: string): Promise<WebhookCreated> {
    return this.http.request('POST', `${V1}/me/webhooks`, { body: { url } });
  }

  listWebhooks(): Promise<{ items: Webhook[] }> {
    return this.http.request('GET', `${V1}/me/webhooks`);
  }

  deleteWebhook(id: string): Promise<void> {
    return this.http.request('DELETE', `${V1}/me/webhooks/${e(id)}`);
  }

  /** Admins: a webhook for every notification of the workspace. */
  createWorkspaceWebhook(wid: string, url: string): Promise<WebhookCreated> {
    return this.http.request('POST', `${V1}/workspaces/${e(wid)}/webhooks`, { body: { url } });
  }

  listWorkspaceWebhooks(wid: string): Promise<{ items: Webhook[] }> {
    return this.http.request('GET', `${V1}/workspaces/${e(wid)}/webhooks`);
  }

  deleteWorkspaceWebhook(wid: string, id: string): Promise<void> {
    return this.http.request('DELETE', `${V1}/workspaces/${e(wid)}/webhooks/${e(id)}`);
  }

  // --- workspaces, members, invitations -------------------------------------------------------
  createWorkspace(name: string): Promise<Workspace> {
    return this.http.request('POST', `${V1}/workspaces`, { body: { name } });
  }

  listWorkspaces(): Promise<Page<Workspace>> {
    return this.http.request('GET', `${V1}/workspaces`);
  }

  getWorkspace(wid: string): Promise<Workspace> {
    return this.http.request('GET', `${V1}/workspaces/${e(wid)}`);
  }

  renameWorkspace(wid: string, name: string): Promise<Workspace> {
    return this.updateWorkspace(wid, { name });
  }

  /** Admins: rename, or choose who may use @channel / @here. */
  updateWorkspace(wid: string, body: { name?: string; channel_mentions?: 'everyone' | 'admins' }): Promise<Workspace> {
    return this.http.request('PATCH', `${V1}/workspaces/${e(wid)}`, { body });
  }

  listMembers(wid: string, query: { limit?: number; cursor?: string } = {}): Promise<Page<ListedMember>> {
    return this.http.request('GET', `${V1}/workspaces/${e(wid)}/members`, { query });
  }

  /** Every member, following next_cursor. */
  async allMembers(wid: string): Promise<ListedMember[]> {
    const all: ListedMember[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listMembers(wid, { limit: 500, cursor });
      all.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return all;
  }

  changeRole(wid: string, uid: string, role: Role): Promise<Omit<Member, 'presence'>> {
    return this.http.request('PATCH', `${V1}/workspaces/${e(wid)}/members/${e(uid)}`, { body: { role } });
  }

  removeMember(wid: string, uid: string): Promise<void> {
    return this.http.request('DELETE', `${V1}/workspaces/${e(wid)}/members/${e(uid)}`);
  }

  createInvitation(
    wid: string,
    body: { role: 'member' | 'guest' | 'admin'; email?: string; expires_in_seconds?: number; max_uses?: number },
  ): Promise<Invitation & { token: string }> {
    return this.http.request('POST', `${V1}/workspaces/${e(wid)}/invitations`, { body });
  }

  listInvitations(wid: string): Promise<Page<Invitation>> {
    return this.http.request('GET', `${V1}/workspaces/${e(wid)}/invitations`);
  }

  revokeInvitation(wid: string, id: string): Promise<void> {
    return this.http.request('DELETE', `${V1}/workspaces/${e(wid)}/invitations/${e(id)}`);
  }

  previewInvitation(token: string): Promise<InvitationPreview> {
    return this.http.request('GET', `${V1}/invitations/${e(token)}`, { auth: false });
  }

  acceptInvitation(token: string): Promise<ResponseBody<'/api/v1/invitations/{token}/accept', 'post', 200>> {
    return this.http.request('POST', `${V1}/invitations/${e(token)}/accept`);
  }

  // --- chats ----------------------------------------------------------------------------------
  createChat(wid: string, body: { type: ChatType; name?: string; topic?: string; member_ids?: string[] }): Promise<Chat> {
    return this.http.request('POST', `${V1}/workspaces/${e(wid)}/chats`, { body });
  }

  /** Chats I belong to, with unread_count, last_read_seq and last_message. */
  listChats(wid: string): Promise<Page<MyChat>> {
    return this.http.request('GET', `${V1}/workspaces/${e(wid)}/chats`);
  }

  browsePublicChats(wid: string): Promise<Page<Chat>> {
    return this.http.request('GET', `${V1}/workspaces/${e(wid)}/chats`, { query: { browse: 'public' } });
  }

  getChat(cid: string): Promise<Chat> {
    return this.http.request('GET', `${V1}/chats/${e(cid)}`);
  }

  updateChat(cid: string, body: { name?: string; topic?: string }): Promise<Chat> {
    return this.http.request('PATCH', `${V1}/chats/${e(cid)}`, { body });
  }

  archiveChat(cid: string): Promise<void> {
    return this.http.request('DELETE', `${V1}/chats/${e(cid)}`);
  }

  listChatMembers(cid: string, query: { limit?: number; cursor?: string } = {}): Promise<Page<ChatMember>> {
    return this.http.request('GET', `${V1}/chats/${e(cid)}/members`, { query });
  }

  addChatMembers(cid: string, user_ids: string[]): Promise<ResponseBody<'/api/v1/chats/{cid}/members', 'post', 200>> {
    return this.http.request('POST', `${V1}/chats/${e(cid)}/members`, { body: { user_ids } });
  }

  removeChatMember(cid: string, uid: string): Promise<void> {
    return this.http.request('DELETE', `${V1}/chats/${e(cid)}/members/${e(uid)}`);
  }

  joinChat(cid: string): Promise<Chat> {
    return this.http.request('POST', `${V1}/chats/${e(cid)}/join`);
  }

  // --- messages -------------------------------------------------------------------------------
  /** The raw POST; prefer FechatterClient.send, which adds local echo, retries and confirmation. */
  postMessage(cid: string, body: PostMessageBody, attempts = 1): Promise<Accepted> {
    return this.http.request('POST', `${V1}/chats/${e(cid)}/messages`, { body, attempts });
  }

  /** History: newest first with `before` or neither; oldest first with `after`. */
  listMessages(cid: string, query: HistoryQuery = {}): Promise<{ items: Message[]; has_more: boolean }> {
    return this.http.request('GET', `${V1}/chats/${e(cid)}/messages`, { query: { ...query } });
  }

  getMessage(mid: string): Promise<Message> {
    return this.http.request('GET', `${V1}/messages/${e(mid)}`);
  }

  editMessage(mid: string, content: string): Promise<ResponseBody<'/api/v1/messages/{mid}', 'patch', 202>> {
    return this.http.request('PATCH', `${V1}/messages/${e(mid)}`, { body: { content } });
  }

  deleteMessage(mid: string): Promise<ResponseBody<'/api/v1/messages/{mid}', 'delete', 202>> {
    return this.http.request('DELETE', `${V1}/messages/${e(mid)}`);
  }

  /** Earlier versions of an edited message, newest first (version 1 is the original). */
  listEdits(mid: string): Promise<{ items: MessageVersion[] }> {
    return this.http.request('GET', `${V1}/messages/${e(mid)}/edits`);
  }

  // --- reactions, pins, saved, threads ----------------------------------------------------------
  /** Adds my reaction (one emoji; idempotent); answers the emoji as it is now on the message. */
  react(mid: string, emoji: string): Promise<Reaction> {
    return this.http.request('PUT', `${V1}/messages/${e(mid)}/reactions/${e(emoji)}`);
  }

  /** Takes my reaction back (idempotent); count 0 when nobody is left. */
  unreact(mid: string, emoji: string): Promise<Reaction> {
    return this.http.request('DELETE', `${V1}/messages/${e(mid)}/reactions/${e(emoji)}`);
  }

  pin(mid: string): Promise<Pin> {
    return this.http.request('PUT', `${V1}/messages/${e(mid)}/pin`);
  }

  unpin(mid: string): Promise<void> {
    return this.http.request('DELETE', `${V1}/messages/${e(mid)}/pin`);
  }

  /** The chat's pins, newest first (at most 100: one page). */
  listPins(cid: string): Promise<Page<Pin>> {
    return this.http.request('GET', `${V1}/chats/${e(cid)}/pins`);
  }

  save(mid: string): Promise<Saved> {
    return this.http.request('PUT', `${V1}/messages/${e(mid)}/saved`);
  }

  unsave(mid: string): Promise<void> {
    return this.http.request('DELETE', `${V1}/messages/${e(mid)}/saved`);
  }

  /** My saved messages, newest first; follow next_cursor. */
  listSaved(query: { limit?: number; cursor?: string } = {}): Promise<Page<Saved>> {
    return this.http.request('GET', `${V1}/me/saved`, { query: { ...query } });
  }

  /** A thread: its root, a page of replies (oldest first) and my state of it. */
  getThread(mid: string, query: ThreadQuery = {}): Promise<Thread> {
    return this.http.request('GET', `${V1}/messages/${e(mid)}/thread`, { query: { ...query } });
  }

  followThread(mid: string): Promise<ThreadState> {
    return this.http.request('PUT', `${V1}/messages/${e(mid)}/thread/follow`);
  }

  unfollowThread(mid: string): Promise<ThreadState> {
    return this.http.request('DELETE', `${V1}/messages/${e(mid)}/thread/follow`);
  }

  /** Moves my read mark of the thread forward to `seq` (never back). */
  markThreadRead(mid: string, seq: number): Promise<ThreadState> {
    return this.http.request('POST', `${V1}/messages/${e(mid)}/thread/read`, { body: { seq } });
  }

  /** Threads I follow, most recent reply first. */
  listMyThreads(query: { workspace_id?: string; limit?: number; cursor?: string } = {}): Promise<Page<{ root: Message; thread: ThreadState }>> {
    return this.http.request('GET', `${V1}/me/threads`, { query: { ...query } });
  }

  // --- attachments ----------------------------------------------------------------------------
  /**
   * Uploads a file to a chat (the raw bytes as the body); send it with a message's
   * attachment_ids to share it. 413 when too large or past the workspace quota.
   */
  uploadAttachment(
    cid: string,
    file: Blob | ArrayBuffer | Uint8Array,
    filename: string,
    contentType?: string,
    options: { onProgress?: (fraction: number) => void } = {},
  ): Promise<Attachment> {
    const type = contentType ?? (typeof Blob !== 'undefined' && file instanceof Blob ? file.type : undefined);
    const path = `${V1}/chats/${e(cid)}/attachments`;
    // Progress needs XMLHttpRequest (browsers); elsewhere fetch, without it.
    if (options.onProgress && typeof (globalThis as { XMLHttpRequest?: unknown }).XMLHttpRequest === 'function') {
      return this.http.uploadWithProgress(path, { filename }, file, type, options.onProgress);
    }
    return this.http.request('POST', path, { query: { filename }, raw: { body: file, contentType: type }, attempts: 1 });
  }

  /** Files sent in the chat, newest first. */
  listChatAttachments(cid: string, query: { limit?: number; cursor?: string } = {}): Promise<Page<ChatAttachment>> {
    return this.http.request('GET', `${V1}/chats/${e(cid)}/attachments`, { query: { ...query } });
  }

  /** The absolute URL of an attachment's `url` or `thumbnail_url` (fetching it needs the bearer token: see download). */
  attachmentUrl(path: string): string {
    return /^https?:/.test(path) ? path : this.http.baseUrl + path;
  }

  /**
   * Fetches a file (an attachment's `url` or `thumbnail_url`) with the bearer token. In a
   * browser, URL.createObjectURL(blob) gives an <img> or link something it can show.
   */
  download(path: string): Promise<Blob> {
    const relative = path.startsWith(this.http.baseUrl) ? path.slice(this.http.baseUrl.length) : path;
    return this.http.request('GET', relative, { blob: true });
  }

  // --- receipts, unread, typing ---------------------------------------------------------------
  markRead(cid: string, seq: number): Promise<ResponseBody<'/api/v1/chats/{cid}/read', 'post', 202>> {
    return this.http.request('POST', `${V1}/chats/${e(cid)}/read`, { body: { seq } });
  }

  receipts(cid: string): Promise<{ items: Receipt[] }> {
    return this.http.request('GET', `${V1}/chats/${e(cid)}/receipts`);
  }

  readers(mid: string): Promise<ResponseBody<'/api/v1/messages/{mid}/readers', 'get', 200>> {
    return this.http.request('GET', `${V1}/messages/${e(mid)}/readers`);
  }

  unread(wid: string): Promise<Unread> {
    return this.http.request('GET', `${V1}/workspaces/${e(wid)}/unread`);
  }

  typing(cid: string): Promise<void> {
    return this.http.request('POST', `${V1}/chats/${e(cid)}/typing`, { body: {} });
  }

  // --- search ---------------------------------------------------------------------------------
  search(wid: string, query: SearchQuery): Promise<SearchResult> {
    return this.http.request('GET', `${V1}/workspaces/${e(wid)}/search`, { query: { ...query } });
  }

  searchAnalytics(wid: string): Promise<ResponseBody<'/api/v1/workspaces/{wid}/search/analytics', 'get', 200>> {
    return this.http.request('GET', `${V1}/workspaces/${e(wid)}/search/analytics`);
  }
}
