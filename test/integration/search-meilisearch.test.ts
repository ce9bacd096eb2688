// The Meilisearch engine against a live server. Runs only when MEILISEARCH_URL points at one
// (e.g. `docker run -p 7700:7700 getmeili/meilisearch` then MEILISEARCH_URL=http://127.0.0.1:7700);
// otherwise the whole suite is reported as skipped. Each run uses its own index (REDIS_PREFIX).
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../../src/deps.js';
import { breakerState, enqueueSearchIndex, meiliIndex, searchCheck } from '../../src/domain/search/index.js';
import { createMeiliClient, indexUid } from '../../src/domain/search/meilisearch.js';
import { reindex } from '../../src/domain/search/reindex.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, eventually, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

const MEILISEARCH_URL = process.env.MEILISEARCH_URL;

async function insertMessage(deps: Deps, chatId: string, sender: FixtureUser, content: string): Promise<string> {
  const id = uuidv7();
  await deps.db.transaction(async (trx) => {
    const [chat] = await trx('chats').where({ id: chatId }).increment('last_seq', 1).returning(['last_seq', 'workspace_id']);
    await trx('messages').insert({
      id,
      chat_id: chatId,
      workspace_id: chat.workspace_id,
      seq: chat.last_seq,
      sender_id: sender.id,
      client_id: `c-${id}`,
      content,
    });
  });
  return id;
}

describe.skipIf(!MEILISEARCH_URL)('Meilisearch engine (live server at MEILISEARCH_URL; skipped when unset)', () => {
  let env: TestEnv;
  let app: Running;
  let request: ReturnType<typeof client>;
  let owner: FixtureUser, mia: FixtureUser, max: FixtureUser;
  let wid: string, general: string, secret: string;
  const ids: Record<string, string> = {};

  const search = async (user: FixtureUser, query: Record<string, string>) =>
    request('GET', `/api/v1/workspaces/${wid}/search?${new URLSearchParams(query)}`, { token: user.token });
  /** Waits until Meilisearch answers (not the Postgres fallback) with the expected total. */
  const meiliSearch = (user: FixtureUser, query: Record<string, string>, total: number) =>
    eventually(
      async () => {
        const res = await search(user, query);
        return res.body.engine === 'meilisearch' && res.body.total === total ? res : undefined;
      },
      20_000,
      200,
    );

  beforeAll(async () => {
    env = await createTestEnv({ MEILISEARCH_URL: MEILISEARCH_URL!, MEILISEARCH_KEY: process.env.MEILISEARCH_KEY ?? '', WORKER_QUEUES: 'search' });
    app = await startInProcess(env, 'all'); // api + the search worker
    request = client(app.url);
    const { deps } = env;
    [owner, mia, max] = await Promise.all(['Olivia', 'Mia', 'Max'].map((n) => fixtureUser(deps, n)));
    wid = await fixtureWorkspace(deps, owner, [
      [mia, 'member'],
      [max, 'member'],
    ]);
    general = await fixtureChat(deps, wid, owner, [mia], 'public', 'general');
    secret = await fixtureChat(deps, wid, owner, [mia], 'private', 'secret');
    ids.fox = await insertMessage(deps, general, mia, 'The quick brown fox <jumps> & runs');
    ids.slow = await insertMessage(deps, general, owner, 'A slow brown fox');
    ids.secret = await insertMessage(deps, secret, owner, 'pineapple merger is secret');
    await enqueueSearchIndex(
      deps,
      Object.values(ids).map((message_id) => ({ op: 'upsert' as const, message_id })),
    );
  });
  afterAll(async () => {
    await app?.stop();
    if (env)
      await createMeiliClient(env.config)
        .deleteIndex(indexUid(env.config))
        .waitTask()
        .catch(() => {});
    await env?.close();
  });

  it('indexes through the search queue and answers with engine "meilisearch"', async () => {
    const res = await meiliSearch(max, { q: 'fox' }, 2);
    expect(res.body.facets.chat_id).toEqual({ [general]: 2 });
    expect(res.body.facets.sender_id).toEqual({ [mia.id]: 1, [owner.id]: 1 });
    const hit = res.body.hits.find((h: any) => h.message.id === ids.fox);
    expect(hit.message).toMatchObject({ id: ids.fox, chat_id: general, workspace_id: wid, sender_id: mia.id, seq: 1, deleted: false });
    expect(hit.highlight).toBe('The quick brown <mark>fox</mark> &lt;jumps&gt; &amp; runs');
  });

  it('supports phrases, exclusion, prefixes and filters', async () => {
    expect((await meiliSearch(max, { q: '"quick brown"' }, 1)).body.hits[0].message.id).toBe(ids.fox);
    expect((await meiliSearch(max, { q: 'fox -slow' }, 1)).body.hits[0].message.id).toBe(ids.fox);
    expect((await meiliSearch(max, { q: 'qui' }, 1)).body.hits[0].message.id).toBe(ids.fox);
    expect((await meiliSearch(max, { q: 'fox', sender_id: owner.id }, 1)).body.hits[0].message.id).toBe(ids.slow);
    await meiliSearch(max, { q: 'fox', to: '2000-01-01' }, 0);
  });

  it('never shows a private chat to a non-member, through any filter', async () => {
    await meiliSearch(mia, { q: 'pineapple' }, 1);
    for (const query of [{ q: 'pineapple' }, { q: 'pineapple', chat_id: secret }, { q: 'pine', sender_id: owner.id }] as Array<Record<string, string>>) {
      const res = await meiliSearch(max, query, 0);
      expect(res.body.hits).toEqual([]);
      expect(res.body.facets).toEqual({ chat_id: {}, sender_id: {} });
    }
  });

  it('follows edits and deletes through the queue (and never returns a deleted message meanwhile)', async () => {
    const id = await insertMessage(env.deps, general, mia, 'kumquat season');
    await enqueueSearchIndex(env.deps, [{ op: 'upsert', message_id: id }]);
    await meiliSearch(max, { q: 'kumquat' }, 1);
    await env.deps.db('messages').where({ id }).update({ deleted_at: new Date() });
    const meanwhile = await search(max, { q: 'kumquat' });
    expect(meanwhile.body.hits).toEqual([]);
    await enqueueSearchIndex(env.deps, [{ op: 'delete', message_id: id }]);
    await meiliSearch(max, { q: 'kumquat' }, 0);
  });

  it('reindexes from Postgres, resuming after the stored cursor', async () => {
    const index = await meiliIndex(env.deps)!;
    await index.deleteAllDocuments().waitTask();
    const [first] = (await env.deps.db('messages').where({ workspace_id: wid }).orderBy('id').select('id')).map((r) => r.id);
    await env.deps.redis.set(env.deps.keys.reindexCursor(wid), first);
    const progress: number[] = [];
    const resumed = await reindex(env.deps, { workspaceId: wid, batchSize: 1, onProgress: (p) => progress.push(p.percent) });
    expect(resumed.resumed_after).toBe(first);
    expect(progress.at(-1)).toBe(100);
    expect(await env.deps.redis.get(env.deps.keys.reindexCursor(wid))).toBeNull();
    expect((await index.getDocuments({ limit: 100 })).results.map((d) => d.id)).not.toContain(first);
    const full = await reindex(env.deps, { workspaceId: wid });
    expect(full.resumed_after).toBeNull();
    await meiliSearch(max, { q: 'fox' }, 2);
  });

  it('reports the engine and breaker state for readiness', async () => {
    expect(await searchCheck(env.deps).run()).toEqual({ engine: 'meilisearch', breaker: 'closed' });
    expect(breakerState(env.deps)).toBe('closed');
  });
});
