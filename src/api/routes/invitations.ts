// Invitations (API.md "Workspaces, members, invitations"). Only owners may invite admins.
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { ROLES } from '../../domain/access.js';
import { acceptInvitation, createInvitation, listInvitations, MAX_INVITATION_SECONDS, previewInvitation, revokeInvitation } from '../../domain/invitations.js';
import { idParams, route, type RouteSpec } from '../route.js';
import { emailField } from './auth.js';
import { listOf } from './workspaces.js';

//  method  path                                  guard   who
//  POST    /workspaces/:wid/invitations          user    admin+ (owner for role admin)
//  GET     /workspaces/:wid/invitations          user    admin+
//  DELETE  /workspaces/:wid/invitations/:id      user    admin+
//  GET     /invitations/:token                   public  anyone holding the token
//  POST    /invitations/:token/accept            user    anyone holding the token (bound email: that user)

const invitationRole = z.enum(['admin', 'member', 'guest']);
const invitationSchema = z.object({
  id: z.string(),
  role: invitationRole,
  email: z.string().nullable(),
  expires_at: z.string(),
  max_uses: z.number().nullable().describe('null: single use'),
  uses: z.number(),
  revoked_at: z.string().nullable(),
  created_by: z.string(),
  created_at: z.string(),
});
/** Anything that is not shaped like one of our tokens cannot exist: 404 like an unknown token. */
const tokenParams = z.object({ token: z.string().regex(/^[A-Za-z0-9_-]{43}$/) });

export function invitationRoutes(deps: Deps): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: '/workspaces/:wid/invitations',
      guard: 'user',
      tag: 'invitations',
      summary: 'Invite people (admin+; only owners may invite admins). The token is shown only here.',
      params: idParams('wid'),
      body: z.strictObject({
        role: invitationRole,
        email: emailField.optional().describe('only the user with this email may accept'),
        expires_in_seconds: z.number().int().min(60).max(MAX_INVITATION_SECONDS).optional().describe('default 7 days, at most 30 days'),
        max_uses: z.number().int().min(1).max(100_000).nullable().optional().describe('default null: single use'),
      }),
      responses: {
        201: { description: 'created', schema: invitationSchema.extend({ token: z.string() }) },
        403: { description: 'below admin, or an admin inviting an admin' },
        404: { description: 'not a member' },
      },
      handler: async ({ params, body, user }) => ({ status: 201, body: await createInvitation(deps, user.id, params.wid, body) }),
    }),
    route({
      method: 'get',
      path: '/workspaces/:wid/invitations',
      guard: 'user',
      tag: 'invitations',
      summary: 'All invitations of the workspace, newest first, without tokens (not paginated)',
      params: idParams('wid'),
      responses: {
        200: { description: 'invitations', schema: listOf(invitationSchema) },
        403: { description: 'below admin' },
        404: { description: 'not a member' },
      },
      handler: async ({ params, user }) => ({ status: 200, body: { items: await listInvitations(deps, user.id, params.wid), next_cursor: null } }),
    }),
    route({
      method: 'delete',
      path: '/workspaces/:wid/invitations/:id',
      guard: 'user',
      tag: 'invitations',
      summary: 'Revoke an invitation (idempotent)',
      params: idParams('wid', 'id'),
      responses: { 204: { description: 'revoked' }, 403: { description: 'below admin' }, 404: { description: 'no such invitation' } },
      handler: async ({ params, user }) => {
        await revokeInvitation(deps, user.id, params.wid, params.id);
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/invitations/:token',
      guard: 'public',
      tag: 'invitations',
      summary: 'Preview an invitation without signing in',
      params: tokenParams,
      responses: {
        200: {
          description: 'usable invitation',
          schema: z.object({ workspace: z.object({ id: z.string(), name: z.string() }), role: invitationRole, expires_at: z.string() }),
        },
        404: { description: 'unknown, expired, used up or revoked' },
      },
      handler: async ({ params }) => ({ status: 200, body: await previewInvitation(deps, params.token) }),
    }),
    route({
      method: 'post',
      path: '/invitations/:token/accept',
      guard: 'user',
      tag: 'invitations',
      summary: 'Join the workspace. Already a member: nothing changes, nothing is used, the current role is returned.',
      params: tokenParams,
      responses: {
        200: {
          description: 'joined (or already a member)',
          schema: z.object({ workspace: z.object({ id: z.string(), name: z.string(), slug: z.string() }), role: z.enum(ROLES) }),
        },
        404: { description: 'unknown, expired, used up, revoked, or bound to another email' },
      },
      handler: async ({ params, user }) => ({ status: 200, body: await acceptInvitation(deps, user.id, params.token) }),
    }),
  ];
}
