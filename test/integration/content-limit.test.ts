// The content limit counts the content exactly as stored: 4000 Unicode code points (what
// Postgres's char_length counts), surrounding whitespace included, on send and on edit.
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

let env: TestEnv;
let all: Running;
let request: ReturnType<typeof client>;
let ann: FixtureUser;
let chat: string;

beforeAll(async () => {
  env = await createTestEnv();
  all = await startInProcess(env, 'all');
  request = client(all.url);
  ann = await fixtureUser(env.deps, 'Ann');
  chat = await fixtureChat(env.deps, await fixtureWorkspace(env.deps, ann), ann, []);
});
afterAll(async () => {
  await all?.stop();
  await env?.close();
});

const send = (content: string) => request('POST', `/api/v1/chats/${chat}/messages`, { token: ann.token, body: { content, client_id: uuidv7() } });
const edit = (id: string, content: string) => request('PATCH', `/api/v1/messages/${id}`, { token: ann.token, body: { content } });
const stored = (id: string, check: (row: { content: string; chars: number }) => boolean = () => true) =>
  eventually(async () => {
    const row = await env.deps.db('messages').where({ id }).first(env.deps.db.raw('content, char_length(content)::int as chars'));
    return row && check(row) ? (row as { content: string; chars: number }) : undefined;
  });

const EMOJI = '\u{1F600}';

describe('content limit', () => {
  it('accepts 4000 astral code points (8000 UTF-16 units) and stores them exactly', async () => {
    const content = EMOJI.repeat(4000);
    expect(content.length).toBe(8000);
    const res = await send(content);
    expect(res.status).toBe(202);
    const row = await stored(res.body.id);
    expect(row.chars).toBe(4000);
    expect(row.content).toBe(content);
    const read = await request('GET', `/api/v1/messages/${res.body.id}`, { token: ann.token });
    expect(read.body.content).toBe(content);
  });

  it('refuses 4001 code points, and counts surrounding whitespace, which is kept', async () => {
    for (const content of ['a'.repeat(4001), EMOJI.repeat(4001), ` ${'a'.repeat(3999)} `]) {
      const res = await send(content);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
      expect(res.body.error.details).toEqual([expect.objectContaining({ field: 'content' })]);
    }
    const padded = `  ${'x'.repeat(3996)}\n\n`;
    const res = await send(padded);
    expect(res.status).toBe(202);
    expect((await stored(res.body.id)).content).toBe(padded);
  });

  it('applies the same rule to edits', async () => {
    const sent = await send('first version');
    expect(sent.status).toBe(202);
    await stored(sent.body.id);
    expect((await edit(sent.body.id, ` ${'b'.repeat(3999)} `)).status).toBe(400);
    const content = `\t${EMOJI.repeat(3999)}`;
    expect((await edit(sent.body.id, content)).status).toBe(202);
    expect((await stored(sent.body.id, (row) => row.content !== 'first version')).content).toBe(content);
  });

  it('says how it counts in the OpenAPI document', async () => {
    const doc = await request('GET', '/api/v1/openapi.json');
    const body = doc.body.paths['/api/v1/chats/{cid}/messages'].post.requestBody.content['application/json'].schema;
    expect(body.properties.content.description).toMatch(/4000 characters, counted as Unicode code points/);
    expect(body.properties.content.description).toMatch(/surrounding whitespace is kept and counts/);
  });
});
