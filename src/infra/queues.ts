// BullMQ queue names and the JSON payload of each job. The API enqueues, workers/ process.
import { Queue, type ConnectionOptions, type DefaultJobOptions } from 'bullmq';

export const QUEUE_NAMES = ['persist', 'receipts', 'search'] as const;
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

export interface JobPayloads {
  persist: PersistJob;
  receipts: ReceiptJob;
  search: SearchJob;
}

/** Retries with exponential backoff; finished jobs are trimmed, failed ones kept for Bull Board. */
export const defaultJobOptions: DefaultJobOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 200 },
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 86400 },
};

export type Queues = { [N in QueueName]: Queue<JobPayloads[N]> };

export function createQueues(connection: ConnectionOptions, prefix: string): Queues {
  const make = <N extends QueueName>(name: N) =>
    new Queue<JobPayloads[N]>(name, { connection, prefix, defaultJobOptions }) as Queue<JobPayloads[N]>;
  return { persist: make('persist'), receipts: make('receipts'), search: make('search') };
}

export async function closeQueues(queues: Queues): Promise<void> {
  await Promise.all(Object.values(queues).map((q) => q.close()));
}
