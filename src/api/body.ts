// JSON request bodies: size-limited (413), in time (408), declared as JSON (415), valid JSON
// (400), bounded nesting depth (400).
// ParameterizedContext, not Context: koa-websocket's types add a required `websocket` to Context.
import type { ParameterizedContext as Context } from 'koa';
import getRawBody from 'raw-body';
import { PayloadTooLargeError, RequestTimeoutError, UnsupportedMediaTypeError, ValidationError } from '../errors.js';

const MAX_DEPTH = 32;

function depthWithin(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (depth > max) return false;
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return true;
}

/** Reads and parses the body. An empty body reads as `{}` so schemas report the missing fields. */
export async function readJsonBody(ctx: Context, limit: number, timeoutMs: number): Promise<unknown> {
  const length = ctx.request.length;
  if (length !== undefined && length > limit) throw new PayloadTooLargeError(limit);
  let text: string;
  let timer: NodeJS.Timeout | undefined;
  // The server's own request timeout is as long as an upload may take (UPLOAD_TIMEOUT_MS); a
  // JSON body gets REQUEST_TIMEOUT_MS, after which the rest is discarded and the connection closed.
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ctx.set('Connection', 'close');
      ctx.req.unpipe();
      ctx.req.resume();
      reject(new RequestTimeoutError(timeoutMs));
    }, timeoutMs);
  });
  try {
    text = await Promise.race([getRawBody(ctx.req, { limit, encoding: 'utf8', length }), late]);
  } catch (err) {
    if (err instanceof RequestTimeoutError) throw err;
    if ((err as { type?: string }).type === 'entity.too.large') throw new PayloadTooLargeError(limit);
    throw new ValidationError('The request body could not be read.');
  } finally {
    clearTimeout(timer);
  }
  if (text.trim() === '') return {};
  if (!ctx.is('application/json', '+json')) throw new UnsupportedMediaTypeError();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ValidationError('The request body is not valid JSON.');
  }
  if (!depthWithin(value, MAX_DEPTH)) throw new ValidationError(`The JSON is nested deeper than ${MAX_DEPTH} levels.`);
  return value;
}
