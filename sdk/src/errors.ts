// Typed errors: every failed call rejects with a FechatterError carrying the API's error code
// and the HTTP status (0 when the request never got an answer).

import type { ErrorBody } from './types.js';

export type { ErrorBody };

export class FechatterError extends Error {
  override readonly name: string = 'FechatterError';

  constructor(
    /** The API's error code (`validation_failed`, `unauthenticated`, `not_found`, ...) or `network_error`. */
    readonly code: string,
    message: string,
    /** HTTP status; 0 for network errors. */
    readonly status: number,
    readonly details: unknown[] = [],
    /** Seconds, from the Retry-After header of a 429 or 503. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  /** Worth retrying the same request (network errors, 429, 502-504). */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

/** The request did not get an HTTP answer (connection refused, reset, timed out, offline). */
export class NetworkError extends FechatterError {
  override readonly name = 'NetworkError';

  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super('network_error', message, 0);
  }
}

export function isErrorBody(body: unknown): body is ErrorBody {
  const error = (body as ErrorBody | null)?.error;
  return typeof error === 'object' && error !== null && typeof error.code === 'string';
}
