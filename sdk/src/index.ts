// @fechatter/sdk: a typed client for the Fechatter API (API.md).
export { FechatterClient, newClientId, type ClientOptions } from './client.js';
export { Api, type HistoryQuery, type MentionsQuery, type PostMessageBody, type SignupBody, type ThreadQuery, type UpdateMeBody } from './api.js';
export { Http, backoffDelay, type HttpOptions, type RequestOptions, type TokenStore, type Tokens } from './http.js';
export {
  LiveConnection,
  type EventSourceCtor,
  type EventSourceLike,
  type LiveOptions,
  type LiveStatus,
  type Transport,
  type WebSocketCtor,
  type WebSocketLike,
} from './live.js';
export { FechatterError, NetworkError } from './errors.js';
export { Emitter } from './emitter.js';
export * from './types.js';
