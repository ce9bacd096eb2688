// Compile-time contract: the SDK's exported types and call results must equal what the server's
// OpenAPI document (./openapi.ts, generated) says, both ways. Nothing here runs; `tsc -p
// sdk/tsconfig.json` (npm run build:sdk, CI typecheck, test/unit/sdk-contract.test.ts) fails on
// the line of the type that drifted.
import type { Api, PostMessageBody, SignupBody, UpdateMeBody } from './api.js';
import type { components } from './openapi.js';
import type * as T from './types.js';
import type { RequestBody, ResponseBody } from './types.js';

type S = components['schemas'];
/** Structural, recursive and strict (optional vs required, null, literal unions all count). */
type Deep<X> = X extends object ? { [K in keyof X]: Deep<X[K]> } : X;
type Equals<A, B> = (<V>() => V extends Deep<A> ? 1 : 2) extends <V>() => V extends Deep<B> ? 1 : 2 ? true : false;
/** What the SDK sends must be accepted by the server. */
type Accepts<Server, Sdk> = [Sdk] extends [Server] ? true : false;
/** What the server answers fits the SDK's type (for Chat, which also carries the optional my-chat fields). */
type Fits<Sdk, Server> = [Server] extends [Sdk] ? true : false;
type Result<M extends keyof Api> = Api[M] extends (...args: never[]) => Promise<infer R> ? R : never;
type Check<_ extends true> = never;

// The main objects. Chat is the document's Chat plus optional my-chat fields, so only its own fields must match.
export type Objects = [
  Check<Equals<T.User, S['User']>>,
  Check<Equals<T.UserStatus, S['UserStatus']>>,
  Check<Equals<T.Session, S['Session']>>,
  Check<Equals<T.Workspace, S['Workspace']>>,
  Check<Equals<Omit<T.Member, 'presence'>, S['Member']>>,
  Check<Equals<Pick<T.Chat, keyof S['Chat']>, S['Chat']>>,
  Check<Equals<T.MyChat, S['MyChat']>>,
  Check<Equals<T.ChatMember, S['ChatMember']>>,
  Check<Equals<T.Message, S['Message']>>,
  Check<Equals<T.Mention, S['Mention']>>,
  Check<Equals<T.Reaction, S['Reaction']>>,
  Check<Equals<T.LinkPreview, S['LinkPreview']>>,
  Check<Equals<T.Attachment, S['Attachment']>>,
  Check<Equals<T.ThreadState, S['ThreadState']>>,
  Check<Equals<T.Pin, S['Pin']>>,
  Check<Equals<T.Saved, S['Saved']>>,
  Check<Equals<T.NotificationSettings, S['NotificationSettings']>>,
  Check<Equals<T.Invitation, S['Invitation']>>,
  Check<Equals<T.ErrorBody, S['Error']>>,
  // The event envelope: the same fields and types; `data` is typed per type by the SDK (the document says it in words).
  Check<Equals<T.EventType, S['Event']['type']>>,
  Check<Equals<Omit<T.ChatEvent, 'type' | 'data'>, Omit<S['Event'], 'type' | 'data'>>>,
  Check<Equals<T.ChatEvent['type'], S['Event']['type']>>,
];

// What the calls resolve to, route by route.
export type Calls = [
  Check<Equals<Result<'signup'>, ResponseBody<'/api/v1/auth/signup', 'post', 201>>>,
  Check<Equals<Result<'login'>, ResponseBody<'/api/v1/auth/login', 'post', 200>>>,
  Check<Equals<Result<'me'>, ResponseBody<'/api/v1/me', 'get', 200>>>,
  Check<Equals<Result<'updateMe'>, ResponseBody<'/api/v1/me', 'patch', 200>>>,
  Check<Equals<Result<'mentions'>, ResponseBody<'/api/v1/me/mentions', 'get', 200>>>,
  Check<Equals<Result<'chatNotifications'>, ResponseBody<'/api/v1/chats/{cid}/notifications', 'get', 200>>>,
  Check<Equals<Result<'createPushSubscription'>, ResponseBody<'/api/v1/me/push-subscriptions', 'post', 201>>>,
  Check<Equals<Result<'listPushSubscriptions'>, ResponseBody<'/api/v1/me/push-subscriptions', 'get', 200>>>,
  Check<Equals<Result<'createWebhook'>, ResponseBody<'/api/v1/me/webhooks', 'post', 201>>>,
  Check<Equals<Result<'listWebhooks'>, ResponseBody<'/api/v1/me/webhooks', 'get', 200>>>,
  Check<Equals<Result<'createWorkspaceWebhook'>, ResponseBody<'/api/v1/workspaces/{wid}/webhooks', 'post', 201>>>,
  Check<Equals<Result<'listWorkspaceWebhooks'>, ResponseBody<'/api/v1/workspaces/{wid}/webhooks', 'get', 200>>>,
  Check<Equals<Result<'createWorkspace'>, ResponseBody<'/api/v1/workspaces', 'post', 201>>>,
  Check<Equals<Result<'listWorkspaces'>, ResponseBody<'/api/v1/workspaces', 'get', 200>>>,
  Check<Equals<Result<'getWorkspace'>, ResponseBody<'/api/v1/workspaces/{wid}', 'get', 200>>>,
  Check<Equals<Result<'updateWorkspace'>, ResponseBody<'/api/v1/workspaces/{wid}', 'patch', 200>>>,
  Check<Equals<Result<'changeRole'>, ResponseBody<'/api/v1/workspaces/{wid}/members/{uid}', 'patch', 200>>>,
  Check<Equals<Result<'createInvitation'>, ResponseBody<'/api/v1/workspaces/{wid}/invitations', 'post', 201>>>,
  Check<Equals<Result<'listInvitations'>, ResponseBody<'/api/v1/workspaces/{wid}/invitations', 'get', 200>>>,
  Check<Equals<Result<'previewInvitation'>, ResponseBody<'/api/v1/invitations/{token}', 'get', 200>>>,
  Check<Equals<Result<'acceptInvitation'>, ResponseBody<'/api/v1/invitations/{token}/accept', 'post', 200>>>,
  Check<Fits<Result<'createChat'>, ResponseBody<'/api/v1/workspaces/{wid}/chats', 'post', 201>>>,
  Check<Fits<Result<'getChat'>, ResponseBody<'/api/v1/chats/{cid}', 'get', 200>>>,
  Check<Fits<Result<'updateChat'>, ResponseBody<'/api/v1/chats/{cid}', 'patch', 200>>>,
  Check<Equals<Result<'listChatMembers'>, ResponseBody<'/api/v1/chats/{cid}/members', 'get', 200>>>,
  Check<Equals<Result<'addChatMembers'>, ResponseBody<'/api/v1/chats/{cid}/members', 'post', 200>>>,
  Check<Fits<Result<'joinChat'>, ResponseBody<'/api/v1/chats/{cid}/join', 'post', 200>>>,
  Check<Equals<Result<'postMessage'>, ResponseBody<'/api/v1/chats/{cid}/messages', 'post', 202>>>,
  Check<Equals<Result<'listMessages'>, ResponseBody<'/api/v1/chats/{cid}/messages', 'get', 200>>>,
  Check<Equals<Result<'getMessage'>, ResponseBody<'/api/v1/messages/{mid}', 'get', 200>>>,
  Check<Equals<Result<'editMessage'>, ResponseBody<'/api/v1/messages/{mid}', 'patch', 202>>>,
  Check<Equals<Result<'deleteMessage'>, ResponseBody<'/api/v1/messages/{mid}', 'delete', 202>>>,
  Check<Equals<Result<'listEdits'>, ResponseBody<'/api/v1/messages/{mid}/edits', 'get', 200>>>,
  Check<Equals<Result<'react'>, ResponseBody<'/api/v1/messages/{mid}/reactions/{emoji}', 'put', 200>>>,
  Check<Equals<Result<'unreact'>, ResponseBody<'/api/v1/messages/{mid}/reactions/{emoji}', 'delete', 200>>>,
  Check<Equals<Result<'pin'>, ResponseBody<'/api/v1/messages/{mid}/pin', 'put', 200>>>,
  Check<Equals<Result<'listPins'>, ResponseBody<'/api/v1/chats/{cid}/pins', 'get', 200>>>,
  Check<Equals<Result<'save'>, ResponseBody<'/api/v1/messages/{mid}/saved', 'put', 200>>>,
  Check<Equals<Result<'listSaved'>, ResponseBody<'/api/v1/me/saved', 'get', 200>>>,
  Check<Equals<Result<'getThread'>, ResponseBody<'/api/v1/messages/{mid}/thread', 'get', 200>>>,
  Check<Equals<Result<'followThread'>, ResponseBody<'/api/v1/messages/{mid}/thread/follow', 'put', 200>>>,
  Check<Equals<Result<'unfollowThread'>, ResponseBody<'/api/v1/messages/{mid}/thread/follow', 'delete', 200>>>,
  Check<Equals<Result<'markThreadRead'>, ResponseBody<'/api/v1/messages/{mid}/thread/read', 'post', 200>>>,
  Check<Equals<Result<'listMyThreads'>, ResponseBody<'/api/v1/me/threads', 'get', 200>>>,
  Check<Equals<Result<'uploadAttachment'>, ResponseBody<'/api/v1/chats/{cid}/attachments', 'post', 201>>>,
  Check<Equals<Result<'listChatAttachments'>, ResponseBody<'/api/v1/chats/{cid}/attachments', 'get', 200>>>,
  Check<Equals<Result<'markRead'>, ResponseBody<'/api/v1/chats/{cid}/read', 'post', 202>>>,
  Check<Equals<Result<'receipts'>, ResponseBody<'/api/v1/chats/{cid}/receipts', 'get', 200>>>,
  Check<Equals<Result<'readers'>, ResponseBody<'/api/v1/messages/{mid}/readers', 'get', 200>>>,
  Check<Equals<Result<'unread'>, ResponseBody<'/api/v1/workspaces/{wid}/unread', 'get', 200>>>,
  Check<Equals<Result<'search'>, ResponseBody<'/api/v1/workspaces/{wid}/search', 'get', 200>>>,
  Check<Equals<Result<'searchAnalytics'>, ResponseBody<'/api/v1/workspaces/{wid}/search/analytics', 'get', 200>>>,
];

// The list of my chats holds MyChat; browsing public chats, plain chats (the route answers either).
export type Lists = [
  Check<Equals<Result<'listChats'>['items'][number], S['MyChat']>>,
  Check<Fits<Result<'browsePublicChats'>['items'][number], S['Chat']>>,
  Check<Equals<ResponseBody<'/api/v1/workspaces/{wid}/chats', 'get', 200>['items'][number], T.MyChat | S['Chat']>>,
  Check<Equals<Result<'listMembers'>, ResponseBody<'/api/v1/workspaces/{wid}/members', 'get', 200>>>,
];

// Request bodies the SDK builds.
export type Bodies = [
  Check<Accepts<RequestBody<'/api/v1/auth/signup', 'post'>, SignupBody>>,
  Check<Accepts<RequestBody<'/api/v1/me', 'patch'>, UpdateMeBody>>,
  Check<Accepts<RequestBody<'/api/v1/chats/{cid}/messages', 'post'>, PostMessageBody>>,
  Check<Accepts<RequestBody<'/api/v1/me/push-subscriptions', 'post'>, T.PushSubscriptionInput>>,
];
