// BullMQ queue names and the JSON payload of each job. The API enqueues, workers/ process.
import { Queue, type ConnectionOptions, type DefaultJobOptions } from 'bullmq';

export const QUEUE_NAMES = ['persist', 'receipts', 'search', 'notifications', 'webhooks', 'unfurl'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

/** A message accepted by the API; its id is final. */
export interface CreateMessageJob {
  kind: 'create';
  id: string;
  chat_id: string;
  workspace_id: string;
  sender_id: string;
  client_id: string;
  content: string;
  reply_to: string | null;
  /** A reply in this root's thread (absent in jobs queued before threads existed). */
  thread_root_id?: string | null;
  /** Uploaded files the message takes (absent in jobs queued before attachments existed). */
  attachment_ids?: string[];
  accepted_at: number;
}
export interface EditMessageJob {
  kind: 'edit';
  id: string;
  chat_id: string;
  content: string;
  edited_at: string;
  /** Who asked (the sender); re-checked by the worker. Absent in jobs queued before it existed. */
  actor_id?: string;
}
export interface DeleteMessageJob {
  kind: 'delete';
  id: string;
  chat_id: string;
  deleted_at: string;
  /** Who asked (the sender or an admin); re-checked by the worker. Absent in jobs queued before it existed. */
  actor_id?: string;
}
export type PersistJob = CreateMessageJob | EditMessageJob | DeleteMessageJob;

export interface ReceiptJob {
  chat_id: string;
  workspace_id: string;
  user_id: string;
  seq: number;
  read_at: string;
}

/** Messages whose Meilisearch documents must catch up with Postgres (the worker re-reads each row). */
export interface SearchJob {
  ops: Array<{ op: 'upsert' | 'delete'; message_id: string }>;
}

/** Why a user is told about a message (notifications.reason). */
export type NotificationReason = 'direct' | 'mention' | 'message';

/**
 * One recipient of one stored message (jobId `n:<message_id>:<user_id>`), delayed while the
 * recipient is online; the worker re-checks everything at run time.
 */
export interface NotifyJob {
  kind: 'notify';
  message_id: string;
  user_id: string;
  chat_id: string;
  workspace_id: string;
  seq: number;
}
/** One Web Push message for one subscription (jobId `p:<notification_id>:<subscription_id>`). */
export interface PushJob {
  kind: 'push';
  notification_id: string;
  subscription_id: string;
}
/** The email digest of a user's pending notifications (at most one scheduled per user). */
export interface DigestJob {
  kind: 'digest';
  user_id: string;
}
export type NotificationJob = NotifyJob | PushJob | DigestJob;

/** One POST of one notification to one webhook (jobId `w:<webhook_id>:<notification_id>`). */
export interface WebhookJob {
  webhook_id: string;
  notification_id: string;
}

/** Fetch the link previews of a message just stored or edited (jobId `u:<message_id>:<version>`). */
export interface UnfurlJob {
  message_id: string;
}

export interface JobPayloads {
  persist: PersistJob;
  receipts: ReceiptJob;
  search: SearchJob;
  notifications: NotificationJob;
  webhooks: WebhookJob;
  unfurl: UnfurlJob;
}

/** Retries with exponential backoff; finished jobs are trimmed, failed ones kept for Bull Board. */
export const defaultJobOptions: DefaultJobOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 200 },
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 86400 },
};

/**
 * Webhook receivers are other people's servers: slower retries (1 s, 2 s, 4 s … ~2 min in all);
 * a delivery that fails all 8 attempts stays in the failed set, the dead-letter list in Bull Board.
 */
export const webhookJobOptions: DefaultJobOptions = {
  ...defaultJobOptions,
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnFail: { age: 14 * 86400 },
};

export type Queues = { [N in QueueName]: Queue<JobPayloads[N]> };

export function createQueues(connection: ConnectionOptions, prefix: string): Queues {
  const make = <N extends QueueName>(name: N, options = defaultJobOptions) =>
    new Queue<JobPayloads[N]>(name, { connection, prefix, defaultJobOptions: options }) as Queue<JobPayloads[N]>;
  return {
    persist: make('persist'),
    receipts: make('receipts'),
    search: make('search'),
    notifications: make('notifications'),
    webhooks: make('webhooks', webhookJobOptions),
    // A preview is a nicety: a few quick retries, then the message simply has none.
    unfurl: make('unfurl', { ...defaultJobOptions, attempts: 3, backoff: { type: 'exponential', delay: 2000 } }),
  };
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}
