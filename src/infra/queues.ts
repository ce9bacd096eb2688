// BullMQ queue names and the JSON payload of each job. The API enqueues, workers/ process.
import { Queue, type DefaultJobOptions } from 'bullmq';
import { Cluster, type Redis as SingleRedis } from 'ioredis';
import type { Redis } from './redis.js';

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

/** Fewer replicas than REDIS_WAIT_REPLICAS confirmed a persist job in time: the send is refused (503), not acknowledged. */
export class ReplicaAckError extends Error {}

/** How long an add waits for its replicas before it is refused instead. */
export const REPLICA_WAIT_MS = 1000;

export interface QueueOptions {
  /** REDIS_WAIT_REPLICAS: persist adds resolve once this many replicas hold them (0: once the master does). */
  waitReplicas?: number;
}

export function createQueues(redis: Redis, prefix: string, options: QueueOptions = {}): Queues {
  const make = <N extends QueueName>(name: N, jobOptions = defaultJobOptions) =>
    new Queue<JobPayloads[N]>(name, { connection: redis, prefix, defaultJobOptions: jobOptions }) as Queue<JobPayloads[N]>;
  const waitReplicas = options.waitReplicas ?? 0;
  return {
    persist: waitReplicas > 0 ? new ReplicatedQueue('persist', ownConnection(redis), prefix, waitReplicas) : make('persist'),
    receipts: make('receipts'),
    search: make('search'),
    notifications: make('notifications'),
    webhooks: make('webhooks', webhookJobOptions),
    // A preview is a nicety: a few quick retries, then the message simply has none.
    unfurl: make('unfurl', { ...defaultJobOptions, attempts: 3, backoff: { type: 'exponential', delay: 2000 } }),
  };
}

function ownConnection(redis: Redis): Redis {
  const own = redis.duplicate();
  own.on('error', () => {}); // as createRedis: callers see the failures
  return own;
}

/**
 * The persist queue with its adds confirmed by `replicas` replicas (Redis WAIT) before they
 * resolve: with asynchronous replication a master can acknowledge a job and die before its
 * replica has it, and the promoted replica then never runs it (docs/deploy.md, "Redis"). WAIT
 * counts the writes made on its own connection before it, and blocks that connection meanwhile,
 * so the queue has a connection of its own; adds that finish together share one WAIT. A retried
 * send is covered too: BullMQ's add of an existing job id writes a `duplicated` event.
 */
class ReplicatedQueue extends Queue<PersistJob> {
  private slot?: number;
  /** A WAIT not sent yet: every add that has finished by the time it goes out joins it. */
  private next?: Promise<void>;

  constructor(
    name: 'persist',
    private readonly own: Redis,
    prefix: string,
    private readonly replicas: number,
  ) {
    super(name, { connection: own, prefix, defaultJobOptions });
  }

  override async add(...args: Parameters<Queue<PersistJob>['add']>) {
    const job = await super.add(...args);
    await this.confirmed();
    return job;
  }

  override async addBulk(...args: Parameters<Queue<PersistJob>['addBulk']>) {
    const jobs = await super.addBulk(...args);
    await this.confirmed();
    return jobs;
  }

  override async close() {
    await super.close();
    this.own.disconnect(); // BullMQ leaves a connection it was given open
  }

  private confirmed(): Promise<void> {
    this.next ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      this.next = undefined;
      // On a cluster the WAIT goes to a node connection, outside the cluster's retries: one that
      // closes under it (its master killed) means no replica confirmed, a 503 like the rest.
      const acked = await (await this.master()).wait(this.replicas, REPLICA_WAIT_MS).catch((err: Error) => {
        throw new ReplicaAckError(`WAIT failed: ${err.message}`);
      });
      if (acked < this.replicas) throw new ReplicaAckError(`${acked} of ${this.replicas} Redis replicas confirmed the job within ${REPLICA_WAIT_MS} ms`);
    });
    return this.next;
  }

  /** The connection that ran the queue's commands: on a cluster, the master of its hash tag now. */
  private async master(): Promise<SingleRedis> {
    if (!(this.own instanceof Cluster)) return this.own;
    this.slot ??= Number(await this.own.cluster('KEYSLOT', `${this.opts.prefix}:${this.name}`));
    const address = this.own.slots[this.slot]?.[0];
    const node = this.own.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === address);
    if (!node) throw new ReplicaAckError(`no master known for slot ${this.slot}`);
    return node;
  }
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}
