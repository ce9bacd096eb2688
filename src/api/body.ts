// JSON request bodies: size-limited (413), in time (408), declared as JSON (415), valid JSON
// (400), bounded nesting depth (400).
// ParameterizedContext, not Context: koa-websocket's types add a required `websocket` to Context.
import type { ParameterizedContext as Context } from 'koa';
import getRawBody from 'raw-body';
import { PayloadTooLargeError, RequestTimeoutError, UnsupportedMediaTypeError, ValidationError } from '../errors.js';

const MAX_DEPTH = 32;

/** Whether `value` nests no deeper than `max` levels (recursion is bounded by `max`). */
function depthWithin(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (max === 0) return false;
  if (Array.isArray(value)) {
    for (const item of value) if (!depthWithin(item, max - 1)) return false;
    return true;
  }
  for (const key in value) if (!depthWithin((value as Record<string, unknown>)[key], max - 1)) return false;
  return true;
}

/** application/json and any +json type; type-is decides what this quick test does not recognise. */
const JSON_TYPE = /^application\/(?:[\w.-]+\+)?json(?:\s*;|$)/i;

/**
 * Reads the body as UTF-8 within `timeoutMs`. The server's own request timeout is as long as an
 * upload may take (UPLOAD_TIMEOUT_MS); a JSON body gets REQUEST_TIMEOUT_MS, after which the rest
 * is discarded and the connection closed. One promise and one timer: this runs on every write.
 */
function readText(ctx: Context, limit: number, timeoutMs: number, length: number | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ctx.set('Connection', 'close');
      ctx.req.unpipe();
      ctx.req.resume();
      reject(new RequestTimeoutError(timeoutMs));
    }, timeoutMs);
    getRawBody(ctx.req, { limit, encoding: 'utf8', length }, (err, text) => {
      clearTimeout(timer);
      if (!err) resolve(text);
      else if ((err as { type?: string }).type === 'entity.too.large') reject(new PayloadTooLargeError(limit));
      else reject(new ValidationError('The request body could not be read.'));
    });
  });
}

/** Reads and parses the body. An empty body reads as `{}` so schemas report the missing fields. */
export async function readJsonBody(ctx: Context, limit: number, timeoutMs: number): Promise<unknown> {
  const length = ctx.request.length;
  if (length !== undefined && length > limit) throw new PayloadTooLargeError(limit);
  const text = await readText(ctx, limit, timeoutMs, length);
  if (text.trim() === '') return {};
  if (!JSON_TYPE.test(ctx.get('content-type')) && !ctx.is('application/json', '+json')) throw new UnsupportedMediaTypeError();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError('The request body is not valid JSON.');
  }
  if (!depthWithin(value, MAX_DEPTH)) throw new ValidationError(`The JSON is nested deeper than ${MAX_DEPTH} levels.`);
  return value;
}
