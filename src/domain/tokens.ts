// Access tokens: HS256 JWTs with issuer, audience, subject, session (`sid`) and expiry.
// Verification pins the algorithm list, so `alg: none` and tokens signed for another algorithm
// or key are refused. Whether the session is still active is sessions.ts's question.
import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { UnauthenticatedError } from '../errors.js';

export interface AuthUser {
  id: string;
  /** The session (refresh-token family) whose login or refresh issued the token. */
  sessionId: string;
  /** Expiry of the token that authenticated this request (seconds since epoch). */
  exp: number;
}

export interface TokenConfig {
  secret: string;
  issuer: string;
  audience: string;
  expiresInSeconds: number;
}

const ALGORITHMS: jwt.Algorithm[] = ['HS256'];

/** Session ids are refresh_tokens.family_id: UUIDs, lower-case as Postgres prints them. */
const isSessionId = (value: unknown): value is string =>
  typeof value === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value);

export function signAccessToken(config: TokenConfig, userId: string, sessionId: string): string {
  return jwt.sign({ sid: sessionId }, config.secret, {
    algorithm: ALGORITHMS[0],
    issuer: config.issuer,
    audience: config.audience,
    subject: userId,
    expiresIn: config.expiresInSeconds,
  });
}

/**
 * The secret as a KeyObject, made once. Given a string, jsonwebtoken first tries it as a PEM
 * public key (createPublicKey throws) on every call: a fifth of the API's CPU under load.
 */
const keys = new Map<string, KeyObject>();
function secretKey(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) keys.set(secret, (key = createSecretKey(Buffer.from(secret))));
  return key;
}

/**
 * Recently verified tokens (per config), so a client's requests verify its token once per
 * VERIFIED_TTL_MS rather than on every request. Only the signature and claims are cached: `exp`
 * is checked on every hit, and revocation separately on every request (sessions.ts).
 */
const VERIFIED_TTL_MS = 30_000;
const VERIFIED_MAX = 10_000;
const verified = new WeakMap<TokenConfig, Map<string, { user: AuthUser; until: number }>>();

export function verifyAccessToken(config: TokenConfig, token: string): AuthUser {
  let cache = verified.get(config);
  if (!cache) verified.set(config, (cache = new Map()));
  const now = Date.now();
  const hit = cache.get(token);
  if (hit && now < hit.until) return hit.user;
  const user = verifyUncached(config, token);
  if (cache.size >= VERIFIED_MAX) cache.clear();
  cache.set(token, { user, until: Math.min(now + VERIFIED_TTL_MS, user.exp * 1000) });
  return user;
}

function verifyUncached(config: TokenConfig, token: string): AuthUser {
  try {
    const payload = jwt.verify(token, secretKey(config.secret), {
      algorithms: ALGORITHMS,
      issuer: config.issuer,
      audience: config.audience,
    }) as jwt.JwtPayload;
    if (typeof payload.sub !== 'string' || !/^\d+$/.test(payload.sub) || typeof payload.exp !== 'number' || !isSessionId(payload.sid)) {
      throw new Error('malformed claims');
    }
    return { id: payload.sub, sessionId: payload.sid, exp: payload.exp };
  } catch (err) {
    const expired = err instanceof jwt.TokenExpiredError;
    throw new UnauthenticatedError(expired ? 'The access token has expired.' : 'The access token is not valid.');
  }
}
