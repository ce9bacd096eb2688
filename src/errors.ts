// Typed errors thrown by domain and infra code. The API's error middleware turns them into
// `{"error": {code, message, details}}` with the status below; `expose` decides whether the
// message is shown to the client (Koa's convention: false for 5xx unless a class says otherwise).
export const ERROR_CODES = [
  'validation_failed',
  'unauthenticated',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'request_timeout',
  'conflict',
  'payload_too_large',
  'uri_too_long',
  'unsupported_media_type',
  'rate_limited',
  'headers_too_large',
  /** Any other 4xx status raised by Koa, the router or a library (the status says which). */
  'bad_request',
  'internal',
  'not_implemented',
  'unavailable',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class AppError extends Error {
  readonly expose: boolean;
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly details: unknown[] = [],
  ) {
    super(message);
    this.name = new.target.name;
    this.expose = status < 500;
  }
}

export class ValidationError extends AppError {
  constructor(message = 'The request is not valid.', details: unknown[] = []) {
    super(400, 'validation_failed', message, details);
  }
}
export class UnauthenticatedError extends AppError {
  constructor(message = 'Authentication is required.') {
    super(401, 'unauthenticated', message);
  }
}
export class ForbiddenError extends AppError {
  constructor(message = 'Your role does not allow this.') {
    super(403, 'forbidden', message);
  }
}
/** Also the answer for things the caller may not know exist (never 403 for strangers). */
export class NotFoundError extends AppError {
  constructor(what = 'resource') {
    super(404, 'not_found', `No such ${what}.`);
  }
}
export class ConflictError extends AppError {
  constructor(message: string) {
    super(409, 'conflict', message);
  }
}
export class PayloadTooLargeError extends AppError {
  constructor(limit: number) {
    super(413, 'payload_too_large', `The request body is larger than ${limit} bytes.`);
  }
}
export class RequestTimeoutError extends AppError {
  constructor(ms: number) {
    super(408, 'request_timeout', `The request body took longer than ${ms} ms to arrive.`);
  }
}
export class UnsupportedMediaTypeError extends AppError {
  constructor(message = 'The request body must be JSON (Content-Type: application/json).') {
    super(415, 'unsupported_media_type', message);
  }
}
export class RateLimitedError extends AppError {
  constructor(
    readonly retryAfterSeconds: number,
    message = `Too many requests. Retry in ${retryAfterSeconds} s.`,
  ) {
    super(429, 'rate_limited', message);
  }
}
/** The message is ours and names only the dependency, so it is shown despite the 5xx. */
export class UnavailableError extends AppError {
  override readonly expose = true;
  constructor(dependency: string) {
    super(503, 'unavailable', `A dependency (${dependency}) is unavailable. Try again shortly.`);
  }
}
