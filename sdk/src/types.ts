// The API's resources and event envelopes, as in /api/v1 (see API.md). IDs are opaque strings,
// timestamps ISO-8601 strings.

export type Role = 'owner' | 'admin' | 'member' | 'guest';
export type ChatType = 'public' | 'private' | 'group' | 'direct';

export interface UserStatus {
  emoji: string | null;
  text: string | null;
  expires_at: string | null;
}

export interface User {
  id: string;
  email: string;
  display_name: string;
  /** The handle @mentions name: global, lower case, 1-32 of `a-z 0-9 _ . -`. */
  username: string;
  /** null when unset or expired. */
  status: UserStatus | null;
  /** Do not disturb until then; null when unset or past. */
  dnd_until: string | null;
  created_at: string;
}

/** Who a message mentions, parsed by the server when it stores the message. */
export type Mention = { type: 'user'; user_id: string; username: string } | { type: 'channel' } | { type: 'here' };

/** How a mention reached me: named, @channel (@all, @everyone) or @here. */
export type MentionKind = 'user' | 'channel' | 'here';

/** A chat's notification level as set; `default` follows the chat type. */
export type NotifyLevel = 'default' | 'all' | 'mentions' | 'none';

export interface NotificationSettings {
  chat_id: string;
  level: NotifyLevel;
  muted: boolean;
  /** What actually applies: muted means none; default is all for direct/group chats, mentions elsewhere. */
  effective_level: 'all' | 'mentions' | 'none';
}

export interface MentionItem {
  message: Message;
  chat_id: string;
  workspace_id: string;
  kind: MentionKind;
  read: boolean;
}

export interface PushSubscriptionRecord {
  id: string;
  endpoint: string;
  created_at: string;
}

/** A browser PushSubscription as JSON (PushSubscription.toJSON()). */
export interface PushSubscriptionInput {
  endpoint: string;
  keys: { p256dh: string; auth: string };
}

export interface Webhook {
  id: string;
  url: string;
  created_at: string;
}

/** Only the creating call returns the signing secret. */
export interface WebhookCreated extends Webhook {
  secret: string;
}

export interface Session {
  user: User;
  access_token: string;
  refresh_token: string;
  /** Seconds until the access token expires. */
  expires_in: number;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Workspace {
  id: string;
  name: string;
  slug: string;
  role: Role;
  /** Who may use @channel / @here: everyone, or admins and owners only. */
  channel_mentions?: 'everyone' | 'admins';
  created_at?: string;
}

export interface Me {
  user: User;
  workspaces: Array<{ id: string; name: string; slug: string; role: Role }>;
}

export interface Member {
  user: User;
  role: Role;
  joined_at: string;
  /** Present when the server reports presence with the member list. */
  presence?: 'online' | 'offline';
}

export interface Invitation {
  id: string;
  token?: string;
  role: Role;
  email?: string | null;
  expires_at: string | null;
  max_uses: number | null;
  uses: number;
}

export interface InvitationPreview {
  workspace: { id: string; name: string };
  role: Role;
  expires_at: string | null;
}

export interface Chat {
  id: string;
  workspace_id: string;
  type: ChatType;
  name: string | null;
  topic: string | null;
  created_by: string;
  created_at: string;
  last_seq: number;
  member_count: number;
  archived_at: string | null;
  /** In "my chats" lists. */
  unread_count?: number;
  last_read_seq?: number;
  last_message?: Message | null;
  /** Direct and group chats may list their members. */
  member_ids?: string[];
  /** In "my chats" lists: unread messages that mention me, and my notification settings. */
  mention_count?: number;
  notify_level?: NotifyLevel;
  muted?: boolean;
}

export interface ChatMember {
  user: User;
  joined_at: string;
  last_read_seq: number;
}

export interface Message {
  id: string;
  chat_id: string;
  workspace_id: string;
  seq: number;
  sender_id: string;
  content: string;
  client_id: string | null;
  reply_to: string | null;
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  mentions: Mention[];
  /** The root of the thread this message replies in, or null. */
  thread_root_id: string | null;
  /** On a thread root: its replies (deleted ones excluded). */
  reply_count: number;
  last_reply_at: string | null;
  /** `content` as sanitized HTML, rendered by the server once (safe to insert as HTML). */
  rendered: string;
  /** Previews of the links in the text, attached after the message is stored (message.link_previews). */
  link_previews: LinkPreview[];
  reactions: Reaction[];
  attachments: Attachment[];
}

/** One emoji on a message: how many reacted and who (oldest first). */
export interface Reaction {
  emoji: string;
  count: number;
  user_ids: string[];
}

export interface LinkPreview {
  url: string;
  title: string;
  description: string | null;
  site_name: string | null;
  /** Any URL the page named: check the scheme before showing it. */
  image_url: string | null;
}

export interface Attachment {
  id: string;
  filename: string;
  /** As sniffed from the bytes, not as declared. */
  content_type: string;
  size: number;
  width: number | null;
  height: number | null;
  /** Download path (needs the bearer token). */
  url: string;
  /** A WebP preview of an image, at most 320 px (needs the bearer token). */
  thumbnail_url: string | null;
  created_at: string;
}

/** A file as GET /chats/:cid/attachments lists it. */
export interface ChatAttachment extends Attachment {
  message_id: string;
  uploader_id: string;
}

/** My follow and read state of a thread. */
export interface ThreadState {
  root_id: string;
  chat_id: string;
  following: boolean;
  /** The seq of the newest reply I have read. */
  last_read_seq: number;
  /** Replies after last_read_seq, not mine, not deleted. */
  unread_count: number;
}

export interface Thread {
  root: Message;
  /** Replies, oldest first. */
  items: Message[];
  has_more: boolean;
  thread: ThreadState;
}

/** A root's thread counts as a reply's message.created / message.deleted carries them. */
export interface ThreadCounts {
  root_id: string;
  reply_count: number;
  last_reply_at: string | null;
}

export interface Pin {
  message: Message;
  pinned_by: string;
  pinned_at: string;
}

export interface Saved {
  message: Message;
  saved_at: string;
}

/** An earlier version of an edited message (version 1 is the original). */
export interface MessageVersion {
  version: number;
  content: string;
  rendered: string;
  written_at: string;
}

export interface Accepted {
  id: string;
  client_id: string;
  chat_id: string;
  status: 'accepted';
}

export interface Receipt {
  user_id: string;
  last_read_seq: number;
  read_at: string | null;
}

export interface Unread {
  chats: Array<{ chat_id: string; unread_count: number; mention_count: number; last_read_seq: number; last_seq: number }>;
  total: number;
  mention_total: number;
}

export interface SearchQuery {
  q: string;
  chat_id?: string;
  sender_id?: string;
  from?: string;
  to?: string;
  limit?: number;
  offset?: number;
}

export interface SearchResult {
  hits: Array<{ message: Message; highlight: string }>;
  /** A lower bound when `total_exact` is false (the engine stopped counting). */
  total: number;
  total_exact: boolean;
  facets: { chat_id: Record<string, number>; sender_id: Record<string, number> };
  took_ms: number;
  engine: 'postgres' | 'meilisearch';
}

/** What a message looks like in the local echo before (and after) the server confirms it. */
export interface LocalMessage {
  client_id: string;
  chat_id: string;
  content: string;
  reply_to: string | null;
  /** Set for a reply in a thread. */
  thread_root_id?: string | null;
  /** Uploaded files sent with it. */
  attachment_ids?: string[];
  sender_id: string | null;
  /** pending: not yet confirmed; sent: persisted (message set); failed: gave up (error set). */
  state: 'pending' | 'sent' | 'failed';
  id?: string;
  message?: Message;
  error?: Error;
  created_at: string;
}

export interface EventDataMap {
  /** A reply also carries its root's counts as they are now (`thread`). */
  'message.created': Message & { thread?: ThreadCounts };
  'message.updated': Message;
  /** A reply's also carries `thread_root_id` and its root's counts. */
  'message.deleted': { id: string; seq: number; thread_root_id?: string; thread?: ThreadCounts };
  'receipt.updated': Receipt;
  typing: { user_id: string; expires_at: string };
  'chat.created': Chat;
  'chat.updated': Chat;
  'chat.member_joined': { user_id: string };
  'chat.member_left': { user_id: string };
  /** The workspace itself (no role: that is per reader). */
  'workspace.updated': Omit<Workspace, 'role'>;
  /** A member as the member list shows them; `user_id` repeats `user.id`. */
  'workspace.member_joined': Member & { user_id: string };
  'workspace.member_updated': Member & { user_id: string };
  /** About me: I no longer receive anything of this workspace. */
  'workspace.member_left': { user_id: string };
  'presence.updated': { user_id: string; status: 'online' | 'offline' };
  /** A member changed name, username, status or do-not-disturb (one event per workspace of theirs). */
  'user.updated': { user: User };
  /** Mine only (user-scoped): my notification settings of the chat changed. */
  'notifications.updated': NotificationSettings;
  /** The emoji as it is now on the message (count 0 after a removal: it is gone). */
  'reaction.added': { message_id: string; emoji: string; user_id: string; reaction: Reaction };
  'reaction.removed': { message_id: string; emoji: string; user_id: string; reaction: Reaction };
  'message.pinned': { message_id: string; pinned_by: string; pinned_at: string; message: Message };
  'message.unpinned': { message_id: string };
  /** Mine only (user-scoped). */
  'message.saved': { message_id: string; saved_at: string; message: Message };
  'message.unsaved': { message_id: string };
  'message.link_previews': { id: string; link_previews: LinkPreview[] };
  /** Mine only (user-scoped): my follow or read state of a thread changed. */
  'thread.updated': ThreadState;
  resync_required: Record<string, never>;
}

export type EventType = keyof EventDataMap;

/** The envelope every real-time event arrives in (both transports). */
export type ChatEvent = {
  [K in EventType]: {
    id: string;
    type: K;
    workspace_id: string | null;
    chat_id: string | null;
    /** Set on user-scoped events (only that user receives them). */
    user_id?: string;
    data: EventDataMap[K];
  };
}[EventType];

export type EventOf<K extends EventType> = Extract<ChatEvent, { type: K }>;

export const EVENT_TYPES: EventType[] = [
  'message.created',
  'message.updated',
  'message.deleted',
  'receipt.updated',
  'typing',
  'chat.created',
  'chat.updated',
  'chat.member_joined',
  'chat.member_left',
  'workspace.updated',
  'workspace.member_joined',
  'workspace.member_updated',
  'workspace.member_left',
  'presence.updated',
  'user.updated',
  'notifications.updated',
  'reaction.added',
  'reaction.removed',
  'message.pinned',
  'message.unpinned',
  'message.saved',
  'message.unsaved',
  'message.link_previews',
  'thread.updated',
  'resync_required',
];
