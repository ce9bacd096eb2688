// Where notifications go besides email: a user's Web Push subscriptions, and webhooks owned by a
// user (their own notifications) or by a workspace (every notification in it; admins only).
// URLs pass the outbound guard when they are registered, and again at every delivery.
import { randomBytes } from 'node:crypto';
import type { Deps } from '../../deps.js';
import { accessWorkspace } from '../access.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import { OutboundRefusedError, resolveOutbound } from './outbound.js';

type TargetDeps = Pick<Deps, 'db' | 'redis' | 'keys' | 'config'>;

const iso = (v: Date | string) => new Date(v).toISOString();

async function checkUrl(deps: TargetDeps, field: string, url: string): Promise<void> {
  try {
    await resolveOutbound(url, { allowPrivate: deps.config.OUTBOUND_ALLOW_PRIVATE_ADDRESSES });
  } catch (err) {
    if (!(err instanceof OutboundRefusedError)) throw err;
    throw new ValidationError('This URL cannot be used.', [{ field, code: 'outbound_refused', message: err.message }]);
  }
}

// --- Push subscriptions ----------------------------------------------------------------------

export interface PushSubscription {
  id: string;
  endpoint: string;
  created_at: string;
}

const toSubscription = (r: { id: string | number; endpoint: string; created_at: Date }): PushSubscription => ({
  id: String(r.id),
  endpoint: r.endpoint,
  created_at: iso(r.created_at),
});

/**
 * Registers a browser's subscription. An endpoint belongs to one browser profile, so the same
 * endpoint again (another login in that browser) moves it to the caller: `created` false.
 */
export async function addPushSubscription(
  deps: TargetDeps,
  userId: string,
  input: { endpoint: string; keys: { p256dh: string; auth: string }; user_agent?: string | null },
): Promise<{ subscription: PushSubscription; created: boolean }> {
  await checkUrl(deps, 'endpoint', input.endpoint);
  const [row] = await deps
    .db('push_subscriptions')
    .insert({ user_id: userId, endpoint: input.endpoint, p256dh: input.keys.p256dh, auth: input.keys.auth, user_agent: input.user_agent ?? null })
    .onConflict('endpoint')
    .merge({ user_id: userId, p256dh: input.keys.p256dh, auth: input.keys.auth, user_agent: input.user_agent ?? null })
    .returning(['id', 'endpoint', 'created_at', deps.db.raw('(xmax = 0) as created')]);
  return { subscription: toSubscription(row), created: Boolean(row.created) };
}

export async function listPushSubscriptions(deps: TargetDeps, userId: string): Promise<PushSubscription[]> {
  const rows = await deps.db('push_subscriptions').where({ user_id: userId }).orderBy('id').select('id', 'endpoint', 'created_at');
  return rows.map(toSubscription);
}

export async function removePushSubscription(deps: TargetDeps, userId: string, id: string): Promise<void> {
  const deleted = await deps.db('push_subscriptions').where({ id, user_id: userId }).delete();
  if (!deleted) throw new NotFoundError('push subscription');
}

// --- Webhooks ----------------------------------------------------------------------------------

export interface Webhook {
  id: string;
  url: string;
  created_at: string;
}

/** Whose webhooks: a user's own, or a workspace's (the caller must be admin+ there). */
export type WebhookOwner = { user_id: string } | { workspace_id: string };

const toWebhook = (r: { id: string | number; url: string; created_at: Date }): Webhook => ({ id: String(r.id), url: r.url, created_at: iso(r.created_at) });

async function accessOwner(deps: TargetDeps, actorId: string, owner: WebhookOwner): Promise<Record<string, string>> {
  if ('workspace_id' in owner) {
    // Strangers: 404 (they must not learn the workspace exists); members below admin: 403.
    await accessWorkspace(deps, actorId, owner.workspace_id, 'admin');
    return { workspace_id: owner.workspace_id };
  }
  return { user_id: owner.user_id };
}

/** Creates a webhook; the secret is returned here only (the receiver verifies signatures with it). */
export async function createWebhook(deps: TargetDeps, actorId: string, owner: WebhookOwner, url: string): Promise<Webhook & { secret: string }> {
  const where = await accessOwner(deps, actorId, owner);
  await checkUrl(deps, 'url', url);
  const secret = `whsec_${randomBytes(32).toString('base64url')}`;
  const [row] = await deps
    .db('webhooks')
    .insert({ ...where, url, secret, created_by: actorId })
    .returning(['id', 'url', 'created_at']);
  return { ...toWebhook(row), secret };
}

export async function listWebhooks(deps: TargetDeps, actorId: string, owner: WebhookOwner): Promise<Webhook[]> {
  const where = await accessOwner(deps, actorId, owner);
  const rows = await deps.db('webhooks').where(where).orderBy('id').select('id', 'url', 'created_at');
  return rows.map(toWebhook);
}

export async function deleteWebhook(deps: TargetDeps, actorId: string, owner: WebhookOwner, id: string): Promise<void> {
  const where = await accessOwner(deps, actorId, owner);
  const deleted = await deps
    .db('webhooks')
    .where({ ...where, id })
    .delete();
  if (!deleted) throw new NotFoundError('webhook');
}
