// Auth and the current user (API.md "Auth and users").
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { login, logout, refresh, signup } from '../../domain/auth.js';
import { getMe, updateMe } from '../../domain/users.js';
import { usernameProblem } from '../../domain/usernames.js';
import { route, type RouteSpec } from '../route.js';

//  method  path            guard   limit
//  POST    /auth/signup    public  auth (per IP)
//  POST    /auth/login     public  auth (per IP) + account lock after repeated failures
//  POST    /auth/refresh   public  auth (per IP)
//  POST    /auth/logout    user
//  GET     /me             user
//  PATCH   /me             user    auth (per IP: it verifies and hashes passwords like login) + the login lock

/** Case-insensitive everywhere: stored and compared lower-cased. */
export const emailField = z.string().trim().toLowerCase().max(254).pipe(z.email());
export const passwordField = z.string().min(8).max(256);
export const displayNameField = z.string().trim().min(1).max(100);
const refreshTokenField = z.string().min(1).max(200);

export const usernameField = z
  .string()
  .trim()
  .toLowerCase()
  .superRefine((v, ctx) => {
    const problem = usernameProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('The unique handle @mentions name: 1-32 of a-z 0-9 _ . - (letter or digit at both ends); stored lower-cased; not channel, all, here or everyone');
const timeField = z.iso.datetime({ offset: true });
const statusSchema = z.object({ emoji: z.string().nullable(), text: z.string().nullable(), expires_at: z.string().nullable() });

export const userSchema = z.object({
  id: z.string(),
  email: z.string(),
  display_name: z.string(),
  username: z.string(),
  status: statusSchema.nullable().describe('Custom status; null when unset or expired'),
  dnd_until: z.string().nullable().describe('Do not disturb until then (notifications wait); null when off'),
  created_at: z.string(),
});
const sessionSchema = z.object({
  user: userSchema,
  access_token: z.string(),
  refresh_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().describe('Seconds until the access token expires (TOKEN_EXPIRY_SECONDS).'),
});
const meSchema = z.object({
  user: userSchema,
  workspaces: z.array(z.object({ id: z.string(), name: z.string(), slug: z.string(), role: z.enum(['owner', 'admin', 'member', 'guest']) })),
});

export function authRoutes(deps: Deps): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: '/auth/signup',
      guard: 'public',
      limit: 'auth',
      tag: 'auth',
      summary: 'Create an account and sign in',
      body: z.strictObject({
        email: emailField,
        password: passwordField,
        display_name: displayNameField,
        username: usernameField.optional().describe('Optional; derived from the email when absent'),
      }),
      responses: { 201: { description: 'signed up', schema: sessionSchema }, 409: { description: 'email already registered, or username taken' } },
      handler: async ({ body }) => ({ status: 201, body: await signup(deps, body) }),
    }),
    route({
      method: 'post',
      path: '/auth/login',
      guard: 'public',
      limit: 'auth',
      tag: 'auth',
      summary: 'Sign in with email and password',
      // Lenient shapes: a wrong email or password is the same 401, whatever it looks like.
      body: z.strictObject({ email: z.string().trim().min(1).max(254), password: z.string().min(1).max(256) }),
      responses: {
        200: { description: 'signed in', schema: sessionSchema },
        401: { description: 'bad credentials (same answer for unknown email and wrong password)' },
        429: { description: 'account locked after RATE_LIMIT_LOGIN_FAILURES attempts (counted before verifying), or too many requests from this IP' },
      },
      handler: async ({ body }) => ({ status: 200, body: await login(deps, body) }),
    }),
    route({
      method: 'post',
      path: '/auth/refresh',
      guard: 'public',
      limit: 'auth',
      tag: 'auth',
      summary: 'Exchange a refresh token for a new pair; the old one is spent, re-using it revokes the session',
      body: z.strictObject({ refresh_token: refreshTokenField }),
      responses: { 200: { description: 'new token pair', schema: sessionSchema }, 401: { description: 'unknown, expired, spent or revoked refresh token' } },
      handler: async ({ body }) => ({ status: 200, body: await refresh(deps, body.refresh_token) }),
    }),
    route({
      method: 'post',
      path: '/auth/logout',
      guard: 'user',
      tag: 'auth',
      summary:
        'End the session of this refresh token (its whole family): its refresh and access tokens are refused at once, its WebSocket/SSE connections close within a few seconds',
      body: z.strictObject({ refresh_token: refreshTokenField }),
      responses: { 204: { description: 'signed out' } },
      handler: async ({ body, user }) => {
        await logout(deps, user.id, body.refresh_token);
        return { status: 204 };
      },
    }),
    route({
      method: 'get',
      path: '/me',
      guard: 'user',
      tag: 'auth',
      summary: 'The current user and their workspaces',
      responses: { 200: { description: 'me', schema: meSchema } },
      handler: async ({ user }) => ({ status: 200, body: await getMe(deps, user.id) }),
    }),
    route({
      method: 'patch',
      path: '/me',
      guard: 'user',
      limit: 'auth',
      tag: 'auth',
      summary:
        'Change display name, username, custom status, do-not-disturb or password. Name, username, status and do-not-disturb changes send `user.updated` to every workspace of the user. A password change signs out every other session of the user (refresh and access tokens refused, sockets closed) and keeps the calling one. A wrong current password counts against the same lock as login.',
      body: z.strictObject({
        display_name: displayNameField.optional(),
        username: usernameField.optional(),
        status: z
          .strictObject({
            emoji: z.string().trim().min(1).max(64).nullable().optional(),
            text: z.string().trim().min(1).max(100).nullable().optional(),
            expires_at: timeField.nullable().optional(),
          })
          .nullable()
          .optional()
          .describe('null clears the status; it disappears by itself at expires_at'),
        dnd_until: timeField.nullable().optional().describe('Hold notifications until then; null ends do-not-disturb'),
        password: z.strictObject({ current: z.string().min(1).max(256), new: passwordField }).optional(),
      }),
      responses: {
        200: { description: 'updated', schema: z.object({ user: userSchema }) },
        400: { description: 'invalid body, or `password.current` is not correct' },
        409: { description: 'username taken' },
        429: { description: 'too many wrong passwords for this account (login is locked too), or too many requests from this IP' },
      },
      handler: async ({ body, user }) => ({ status: 200, body: { user: await updateMe(deps, user, body) } }),
    }),
  ];
}
