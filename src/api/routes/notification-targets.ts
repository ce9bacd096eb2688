// Where notifications are delivered besides email: Web Push subscriptions and webhooks.
//  method  path                               guard  limit
//  GET     /push/vapid-public-key             user
//  POST    /me/push-subscriptions             user   write
//  GET     /me/push-subscriptions             user
//  DELETE  /me/push-subscriptions/:id         user   write
//  POST    /me/webhooks                       user   write
//  GET     /me/webhooks                       user
//  DELETE  /me/webhooks/:id                   user   write
//  POST    /workspaces/:wid/webhooks          user   write  (admin+)
//  GET     /workspaces/:wid/webhooks          user          (admin+)
//  DELETE  /workspaces/:wid/webhooks/:id      user   write  (admin+)
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { NotFoundError } from '../../errors.js';
import {
  addPushSubscription,
  createWebhook,
  deleteWebhook,
  listPushSubscriptions,
  listWebhooks,
  removePushSubscription,
  type WebhookOwner,
} from '../../domain/notifications/targets.js';
import { vapidKeys } from '../../domain/notifications/vapid.js';
import { idParams, route, type RouteSpec } from '../route.js';

const base64url = (bytes: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+={0,2}$/, 'must be base64url')
    .refine((v) => Buffer.from(v, 'base64url').length === bytes, `must encode ${bytes} bytes`);
const outboundUrl = z.string().max(2000).url();

const subscriptionBody = z.strictObject({
  endpoint: outboundUrl,
  // An uncompressed P-256 public key and the 16-byte auth secret (RFC 8291).
  keys: z.object({ p256dh: base64url(65), auth: base64url(16) }),
  expirationTime: z.number().nullable().optional(),
});
const subscription = z.object({ id: z.string(), endpoint: z.string(), created_at: z.string() });
const webhook = z.object({ id: z.string(), url: z.string(), created_at: z.string() });
const webhookCreated = webhook.extend({ secret: z.string() });
const webhookBody = z.strictObject({ url: outboundUrl });

type OwnerParams = z.ZodObject<Record<string, z.ZodString>>;

/** The same three routes for a user's webhooks and a workspace's. */
function webhookRoutes(
  deps: Deps,
  prefix: string,
  params: OwnerParams,
  owner: (p: Record<string, string>, userId: string) => WebhookOwner,
  whose: string,
): RouteSpec[] {
  const itemParams = params.extend({ id: idParams('id').shape.id });
  const errors: Record<number, { description: string }> = prefix.startsWith('/workspaces')
    ? { 403: { description: 'below admin' }, 404: { description: 'no such workspace' } }
    : {};
  return [
    route({
      method: 'post',
      path: `${prefix}/webhooks`,
      guard: 'user',
      tag: 'notifications',
      limit: 'write',
      summary: `Add a webhook receiving ${whose} notifications (the secret is shown only here)`,
      params,
      body: webhookBody,
      responses: { 201: { description: 'created', schema: webhookCreated }, 400: { description: 'invalid or refused URL' }, ...errors },
      handler: async ({ user, params: p, body }) => ({ status: 201, body: await createWebhook(deps, user.id, owner(p, user.id), body.url) }),
    }),
    route({
      method: 'get',
      path: `${prefix}/webhooks`,
      guard: 'user',
      tag: 'notifications',
      summary: `List webhooks receiving ${whose} notifications`,
      params,
      responses: { 200: { description: 'webhooks', schema: z.object({ items: z.array(webhook) }) }, ...errors },
      handler: async ({ user, params: p }) => ({ status: 200, body: { items: await listWebhooks(deps, user.id, owner(p, user.id)) } }),
    }),
    route({
      method: 'delete',
      path: `${prefix}/webhooks/:id`,
      guard: 'user',
      tag: 'notifications',
      limit: 'write',
      summary: 'Delete a webhook',
      params: itemParams,
      responses: { 204: { description: 'deleted' }, 404: { description: 'no such webhook' }, ...errors },
      handler: async ({ user, params: p }) => {
        await deleteWebhook(deps, user.id, owner(p, user.id), p.id);
        return { status: 204 };
      },
    }),
  ];
}

export function notificationTargetRoutes(deps: Deps): RouteSpec[] {
  return [
    route({
      method: 'get',
      path: '/push/vapid-public-key',
      guard: 'user',
      tag: 'notifications',
      summary: "The server's VAPID public key (applicationServerKey for PushManager.subscribe)",
      responses: { 200: { description: 'key', schema: z.object({ public_key: z.string() }) }, 404: { description: 'push is off' } },
      handler: async () => {
        const keys = vapidKeys(deps.config);
        if (!keys) throw new NotFoundError('push configuration');
        return { status: 200, body: { public_key: keys.publicKey } };
      },
    }),
    route({
      method: 'post',
      path: '/me/push-subscriptions',
      guard: 'user',
      tag: 'notifications',
      limit: 'write',
      summary: 'Register a Web Push subscription (the same endpoint again moves it to me: 200)',
      body: subscriptionBody,
      responses: {
        201: { description: 'created', schema: subscription },
        200: { description: 'already registered; now mine', schema: subscription },
        400: { description: 'invalid or refused endpoint' },
      },
      handler: async ({ user, body, ctx }) => {
        const { subscription: s, created } = await addPushSubscription(deps, user.id, { ...body, user_agent: ctx.get('user-agent').slice(0, 500) || null });
        return { status: created ? 201 : 200, body: s };
      },
    }),
    route({
      method: 'get',
      path: '/me/push-subscriptions',
      guard: 'user',
      tag: 'notifications',
      summary: 'My Web Push subscriptions',
      responses: { 200: { description: 'subscriptions', schema: z.object({ items: z.array(subscription) }) } },
      handler: async ({ user }) => ({ status: 200, body: { items: await listPushSubscriptions(deps, user.id) } }),
    }),
    route({
      method: 'delete',
      path: '/me/push-subscriptions/:id',
      guard: 'user',
      tag: 'notifications',
      limit: 'write',
      summary: 'Remove one of my Web Push subscriptions',
      params: idParams('id'),
      responses: { 204: { description: 'removed' }, 404: { description: 'not mine' } },
      handler: async ({ user, params }) => {
        await removePushSubscription(deps, user.id, params.id);
        return { status: 204 };
      },
    }),
    ...webhookRoutes(deps, '/me', z.object({}), (_p, userId) => ({ user_id: userId }), 'my'),
    ...webhookRoutes(deps, '/workspaces/:wid', idParams('wid'), (p) => ({ workspace_id: p.wid }), "the workspace's"),
  ];
}
