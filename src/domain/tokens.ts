// Access tokens: HS256 JWTs with issuer, audience, subject and expiry. Verification pins the
// algorithm list, so `alg: none` and tokens signed for another algorithm or key are refused.
import jwt from 'jsonwebtoken';
import { UnauthenticatedError } from './errors.js';

export interface AuthUser {
  id: string;
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

export function signAccessToken(config: TokenConfig, userId: string): string {
  return jwt.sign({}, config.secret, {
    algorithm: ALGORITHMS[0],
    issuer: config.issuer,
    audience: config.audience,
    subject: userId,
    expiresIn: config.expiresInSeconds,
  });
}

export function verifyAccessToken(config: TokenConfig, token: string): AuthUser {
  try {
    const payload = jwt.verify(token, config.secret, {
      algorithms: ALGORITHMS,
      issuer: config.issuer,
      audience: config.audience,
    }) as jwt.JwtPayload;
    if (typeof payload.sub !== 'string' || !/^\d+$/.test(payload.sub) || typeof payload.exp !== 'number') {
      throw new Error('malformed claims');
    }
    return { id: payload.sub, exp: payload.exp };
  } catch (err) {
    const expired = err instanceof jwt.TokenExpiredError;
    throw new UnauthenticatedError(expired ? 'The access token has expired.' : 'The access token is not valid.');
  }
}
