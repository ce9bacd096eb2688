// Workspaces and their members (API.md "Workspaces, members, invitations").
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { ROLES } from '../../domain/access.js';
import { changeRole, createWorkspace, getWorkspace, listMembers, listWorkspaces, removeMember, updateWorkspace } from '../../domain/workspaces.js';
import { id, idParams, route, type RouteSpec } from '../route.js';
import { userSchema } from './auth.js';

//  method  path                              guard  who
//  POST    /workspaces                       user   anyone
//  GET     /workspaces                       user   anyone (mine)
//  GET     /workspaces/:wid                  user   member
//  PATCH   /workspaces/:wid                  user   admin+
//  GET     /workspaces/:wid/members          user   member (guests: people sharing a chat)
//  PATCH   /workspaces/:wid/members/:uid     user   admin+ (owner for owner/admin)
//  DELETE  /workspaces/:wid/members/:uid     user   admin+ or self

const roleField = z.enum(ROLES);
const workspaceName = z.string().trim().min(1).max(100);
const channelMentions = z
  .enum(['everyone', 'admins'])
  .describe('Who may notify a whole chat with @channel/@all/@here: every member, or admins and owners only');
export const workspaceSchema = z.object({
  id: z.string(),
  name: z.string(),
  slug: z.string(),
  role: roleField,
  channel_mentions: channelMentions,
  created_at: z.string(),
});
const memberSchema = z.object({ user: userSchema, role: roleField, joined_at: z.string() });
export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: id.optional().describe('next_cursor of the previous page'),
});
export const listOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), next_cursor: z.string().nullable() });

export function workspaceRoutes(deps: Deps): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: '/workspaces',
      guard: 'user',
      tag: 'workspaces',
      summary: 'Create a workspace; the creator is its owner',
      body: z.strictObject({ name: workspaceName }),
      responses: { 201: { description: 'created', schema: workspaceSchema } },
      handler: async ({ body, user }) => ({ status: 201, body: await createWorkspace(deps, user.id, body.name) }),
    }),
    route({
      method: 'get',
      path: '/workspaces',
      guard: 'user',
      tag: 'workspaces',
      summary: 'My workspaces with my role (not paginated: next_cursor is always null)',
      responses: { 200: { description: 'workspaces', schema: listOf(workspaceSchema) } },
      handler: async ({ user }) => ({ status: 200, body: { items: await listWorkspaces(deps, user.id), next_cursor: null } }),
    }),
    route({
      method: 'get',
      path: '/workspaces/:wid',
      guard: 'user',
      tag: 'workspaces',
      summary: 'A workspace I belong to',
      params: idParams('wid'),
      responses: { 200: { description: 'workspace', schema: workspaceSchema }, 404: { description: 'no such workspace, or not a member' } },
      handler: async ({ params, user }) => ({ status: 200, body: await getWorkspace(deps, user.id, params.wid) }),
    }),
    route({
      method: 'patch',
      path: '/workspaces/:wid',
      guard: 'user',
      tag: 'workspaces',
      summary: 'Rename (the slug stays) or set who may use @channel/@all/@here (admin+)',
      params: idParams('wid'),
      body: z.strictObject({ name: workspaceName.optional(), channel_mentions: channelMentions.optional() }),
      responses: { 200: { description: 'updated', schema: workspaceSchema }, 403: { description: 'below admin' }, 404: { description: 'not a member' } },
      handler: async ({ params, body, user }) => ({ status: 200, body: await updateWorkspace(deps, user.id, params.wid, body) }),
    }),
    route({
      method: 'get',
      path: '/workspaces/:wid/members',
      guard: 'user',
      tag: 'workspaces',
      summary: 'Members, by user id; guests see only people who share a chat with them',
      params: idParams('wid'),
      query: pageQuery,
      responses: {
        200: {
          description: 'members, each with presence (online while a connection of theirs is open)',
          schema: listOf(memberSchema.extend({ presence: z.enum(['online', 'offline']) })),
        },
        404: { description: 'not a member' },
      },
      handler: async ({ params, query, user }) => ({ status: 200, body: await listMembers(deps, user.id, params.wid, query) }),
    }),
    route({
      method: 'patch',
      path: '/workspaces/:wid/members/:uid',
      guard: 'user',
      tag: 'workspaces',
      summary: "Change a member's role (admin+; only an owner grants or takes owner/admin)",
      params: idParams('wid', 'uid'),
      body: z.strictObject({ role: roleField }),
      responses: {
        200: { description: 'changed', schema: memberSchema },
        403: { description: 'role does not allow it' },
        404: { description: 'no such member' },
        409: { description: 'would leave the workspace without an owner' },
      },
      handler: async ({ params, body, user }) => ({ status: 200, body: await changeRole(deps, user.id, params.wid, params.uid, body.role) }),
    }),
    route({
      method: 'delete',
      path: '/workspaces/:wid/members/:uid',
      guard: 'user',
      tag: 'workspaces',
      summary: 'Remove a member (admin+) or leave (self); the user leaves every chat of the workspace',
      params: idParams('wid', 'uid'),
      responses: {
        204: { description: 'removed' },
        403: { description: 'role does not allow it' },
        404: { description: 'no such member' },
        409: { description: 'the last owner cannot leave' },
      },
      handler: async ({ params, user }) => {
        await removeMember(deps, user.id, params.wid, params.uid);
        return { status: 204 };
      },
    }),
  ];
}
