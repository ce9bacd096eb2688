// A JSON body must arrive within REQUEST_TIMEOUT_MS (408, the error shape, connection closed);
// an upload may take up to UPLOAD_TIMEOUT_MS, so a large file on a slow link still gets through.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

let env: TestEnv;
let app: Running;
let ann: FixtureUser;
let chat: string;

beforeAll(async () => {
  env = await createTestEnv({ REQUEST_TIMEOUT_MS: '500' });
  app = await startInProcess(env, 'api');
  ann = await fixtureUser(env.deps, 'Ann');
  const wid = await fixtureWorkspace(env.deps, ann);
  chat = await fixtureChat(env.deps, wid, ann, [], 'public', 'slow');
});
afterAll(async () => {
  await app?.stop();
  await env?.close();
});

/** Sends `head` and then `chunks` one every `everyMs`; resolves with the raw response once the server closes or answers. */
function slowRequest(head: string, chunks: Buffer[], everyMs: number): Promise<string> {
  const { port } = new URL(app.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
    socket.write(head);
    let i = 0;
    const timer = setInterval(() => {
      if (socket.destroyed) return clearInterval(timer);
      if (i < chunks.length) socket.write(chunks[i++]);
      else clearInterval(timer);
    }, everyMs);
    setTimeout(() => {
      clearInterval(timer);
      socket.destroy();
      reject(new Error(`no answer: ${answer}`));
    }, 10_000);
  });
}

describe('request body timeouts', () => {
  it('answer a JSON body that does not arrive in time with 408 and close the connection', async () => {
    const body = JSON.stringify({ content: 'hello', client_id: 'slow-1' });
    const started = Date.now();
    const answer = await slowRequest(
      `POST /api/v1/chats/${chat}/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ann.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      [Buffer.from(body.slice(0, 5)), ...Array.from({ length: 20 }, () => Buffer.alloc(0))],
      200,
    );
    expect(answer).toMatch(/^HTTP\/1.1 408/);
    expect(answer).toContain('"code":"request_timeout"');
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('let an upload take longer than REQUEST_TIMEOUT_MS', async () => {
    const chunks = Array.from({ length: 8 }, (_, i) => Buffer.from(`line ${i}\n`));
    const size = chunks.reduce((n, c) => n + c.length, 0);
    const answer = await slowRequest(
      `POST /api/v1/chats/${chat}/attachments?filename=slow.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ann.token}\r\nContent-Type: text/plain\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`,
      chunks,
      150,
    );
    expect(answer, answer).toMatch(/^HTTP\/1.1 201/);
    expect(answer).toContain('"filename":"slow.txt"');
  });
});
