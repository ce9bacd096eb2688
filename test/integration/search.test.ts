// Search over HTTP with the default engine (Postgres full-text search), its permission filter,
// highlighting, analytics, and the fallback to Postgres while Meilisearch is unreachable.
// Messages are inserted straight into the table, the way the persist worker commits them.
import { spawn } from 'node:child_process';
import path from 'node:path';
import type pg from 'pg';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../../src/deps.js';
import { freePort } from '../../src/infra/embedded.js';
import { escapeHtml, fromTaggedContent, markWords, MEILI_POST, MEILI_PRE, parseTsquery } from '../../src/domain/search/highlight.js';
import { breakerState, enqueueSearchIndex, MATCH_WINDOW, PREFIX_EXPANSIONS, searchCheck } from '../../src/domain/search/index.js';
import { EXPAND_SQL, expandPrefix, NO_LEXEME } from '../../src/domain/search/prefix.js';
import { splitQuery } from '../../src/domain/search/query.js';
import * as lexemesPerWorkspace from '../../migrations/20261203000130_search_lexemes_per_workspace.js';
import type { Running } from '../../src/roles.js';
import { packageRoot } from '../../src/version.js';
import { client, createTestEnv, eventually, startInProcess, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureMessage, fixtureUser, fixtureWorkspace, type FixtureUser } from '../helpers/fixtures.js';

const insertMessage = async (deps: Deps, chatId: string, sender: FixtureUser, content: string, createdAt = new Date()) =>
  (await fixtureMessage(deps, chatId, sender, content, { createdAt })).id;

/** What a highlight says once its marks are removed and its entities decoded. */
function unescape(html: string): string {
  return html
    .replace(/<\/?mark>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}
const marked = (html: string) => [...html.matchAll(/<mark>(.*?)<\/mark>/g)].map((m) => m[1]);

describe('search helpers', () => {
  it('splits the last word off as a prefix only while it is being typed', () => {
    expect(splitQuery('deploy fri')).toEqual({ websearch: 'deploy ', prefix: 'fri' });
    expect(splitQuery('deploy friday ')).toEqual({ websearch: 'deploy friday ', prefix: null });
    expect(splitQuery('"quick brown"')).toEqual({ websearch: '"quick brown"', prefix: null });
    expect(splitQuery('"quick bro')).toEqual({ websearch: '"quick bro', prefix: null });
    expect(splitQuery('fox -slow')).toEqual({ websearch: 'fox -slow', prefix: null });
    expect(splitQuery('cat or dog')).toEqual({ websearch: 'cat or dog', prefix: null });
    expect(splitQuery("it's:* & x")).toEqual({ websearch: "it's:* & ", prefix: 'x' });
    expect(splitQuery('a:*|b')).toEqual({ websearch: 'a:*|b', prefix: null });
  });

  it('reads the positive lexemes of a tsquery', () => {
    const terms = parseTsquery("'quick' <-> 'fox' & !'slow' & 'deploy':* & 'o''brien'");
    expect([...terms.exact].sort()).toEqual(['fox', "o'brien", 'quick']);
    expect(terms.prefixes).toEqual(['deploy']);
  });

  it('escapes everything and marks whole words only', () => {
    expect(markWords('<b>ship</b> & "ship"', (w) => w === 'ship')).toBe('&lt;b&gt;<mark>ship</mark>&lt;/b&gt; &amp; &quot;<mark>ship</mark>&quot;');
    expect(markWords('amp &amp;', (w) => w === 'amp')).toBe('<mark>amp</mark> &amp;<mark>amp</mark>;');
    expect(escapeHtml(`<>&"'`)).toBe('&lt;&gt;&amp;&quot;&#39;');
  });

  it('turns Meilisearch tags into marks on escaped text, and refuses stale formatting', () => {
    const content = '<i>deploy</i> now';
    expect(fromTaggedContent(content, `<i>${MEILI_PRE}deploy${MEILI_POST}</i> now`)).toBe('&lt;i&gt;<mark>deploy</mark>&lt;/i&gt; now');
    expect(fromTaggedContent(content, `${MEILI_PRE}older${MEILI_POST} text`)).toBe(escapeHtml(content));
  });
});

describe('GET /workspaces/:wid/search (postgres)', () => {
  let env: TestEnv;
  let api: Running;
  let request: ReturnType<typeof client>;
  let owner: FixtureUser, admin: FixtureUser, mia: FixtureUser, max: FixtureUser, gus: FixtureUser, stranger: FixtureUser;
  let wid: string, general: string, secret: string, guestRoom: string, otherWid: string;
  const ids: Record<string, string> = {};

  const search = (user: FixtureUser, query: Record<string, string | number>, workspace = wid) =>
    request('GET', `/api/v1/workspaces/${workspace}/search?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`, {
      token: user.token,
    });

  beforeAll(async () => {
    env = await createTestEnv();
    const { deps } = env;
    api = await startInProcess(env, 'api');
    request = client(api.url);
    [owner, admin, mia, max, gus, stranger] = await Promise.all(['Olivia', 'Adam', 'Mia', 'Max', 'Gus', 'Sam'].map((n) => fixtureUser(deps, n)));
    wid = await fixtureWorkspace(deps, owner, [
      [admin, 'admin'],
      [mia, 'member'],
      [max, 'member'],
      [gus, 'guest'],
    ]);
    otherWid = await fixtureWorkspace(deps, stranger);
    general = await fixtureChat(deps, wid, owner, [mia], 'public', 'general');
    secret = await fixtureChat(deps, wid, owner, [mia], 'private', 'secret');
    guestRoom = await fixtureChat(deps, wid, owner, [gus], 'private', 'guests');
    const otherChat = await fixtureChat(deps, otherWid, stranger, [], 'public', 'elsewhere');

    const day = 86_400_000;
    const now = Date.now();
    ids.deployOld = await insertMessage(deps, general, owner, 'Deployment scheduled for Friday', new Date(now - 30 * day));
    ids.deployNew = await insertMessage(deps, general, mia, 'The deployment went fine, deploying again on Monday', new Date(now - day));
    ids.fox = await insertMessage(deps, general, mia, 'The quick brown fox jumps over the lazy dog');
    ids.slowFox = await insertMessage(deps, general, owner, 'A slow brown fox naps; quick thinking is rare');
    ids.html = await insertMessage(deps, general, owner, '<script>alert("pwned")</script> release & ship it');
    ids.secret = await insertMessage(deps, secret, owner, 'Secret merger codename pineapple');
    ids.secret2 = await insertMessage(deps, secret, mia, 'pineapple deployment is confidential');
    ids.guest = await insertMessage(deps, guestRoom, gus, 'Guest question about pineapple pricing');
    ids.other = await insertMessage(deps, otherChat, stranger, 'pineapple in another workspace');
  });
  afterAll(async () => {
    await api?.stop();
    await env?.close();
  });

  describe('validation and access', () => {
    it.each([
      ['missing q', {}],
      ['empty q', { q: '' }],
      ['blank q', { q: '   ' }],
      ['q over 200 characters', { q: 'a'.repeat(201) }],
      ['limit 0', { q: 'x', limit: 0 }],
      ['limit 101', { q: 'x', limit: 101 }],
      ['non-numeric limit', { q: 'x', limit: 'ten' }],
      ['offset over 10000', { q: 'x', offset: 10_001 }],
      ['negative offset', { q: 'x', offset: -1 }],
      ['non-numeric chat_id', { q: 'x', chat_id: 'abc' }],
      ['non-numeric sender_id', { q: 'x', sender_id: '1; drop table messages' }],
      ['from not a date', { q: 'x', from: 'yesterday' }],
      ['from after to', { q: 'x', from: '2026-02-01', to: '2026-01-01' }],
    ])('rejects %s with 400 validation_failed', async (_name, query) => {
      const res = await search(owner, query as Record<string, string>);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('validation_failed');
    });

    it('accepts 200 characters, ISO dates and timestamps', async () => {
      expect((await search(owner, { q: 'a'.repeat(200) })).status).toBe(200);
      expect((await search(owner, { q: 'x', from: '2020-01-01', to: '2099-01-01T00:00:00.000Z' })).status).toBe(200);
    });

    it('answers 401 without a token and 404 to strangers', async () => {
      expect((await request('GET', `/api/v1/workspaces/${wid}/search?q=fox`)).status).toBe(401);
      const res = await search(stranger, { q: 'fox' });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
    });
  });

  describe('matching', () => {
    it('finds words and returns the message object, highlight, facets and engine', async () => {
      const res = await search(max, { q: 'fox' });
      expect(res.status).toBe(200);
      expect(res.body.engine).toBe('postgres');
      expect(typeof res.body.took_ms).toBe('number');
      expect(res.body.total).toBe(2);
      const hit = res.body.hits.find((h: any) => h.message.id === ids.fox);
      expect(hit.message).toEqual({
        id: ids.fox,
        chat_id: general,
        workspace_id: wid,
        seq: 3,
        sender_id: mia.id,
        content: 'The quick brown fox jumps over the lazy dog',
        client_id: `c-${ids.fox}`,
        reply_to: null,
        thread_root_id: null,
        reply_count: 0,
        last_reply_at: null,
        mentions: [],
        rendered: '<p>The quick brown fox jumps over the lazy dog</p>',
        link_previews: [],
        reactions: [],
        attachments: [],
        created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        edited_at: null,
        deleted: false,
      });
      expect(hit.highlight).toBe('The quick brown <mark>fox</mark> jumps over the lazy dog');
      expect(res.body.facets).toEqual({ chat_id: { [general]: 2 }, sender_id: { [mia.id]: 1, [owner.id]: 1 } });
    });

    it('matches stemmed forms and highlights each of them', async () => {
      const res = await search(max, { q: 'deployments ' });
      const hit = res.body.hits.find((h: any) => h.message.id === ids.deployNew);
      expect(marked(hit.highlight)).toEqual(['deployment', 'deploying']);
    });

    it('supports "phrases" and -exclusion', async () => {
      const phrase = await search(max, { q: '"quick brown"' });
      expect(phrase.body.hits.map((h: any) => h.message.id)).toEqual([ids.fox]);
      const excluded = await search(max, { q: 'brown fox -slow' });
      expect(excluded.body.hits.map((h: any) => h.message.id)).toEqual([ids.fox]);
      const either = await search(max, { q: 'jumps or naps' });
      expect(either.body.total).toBe(2);
    });

    it('matches the last word as a prefix (search as you type)', async () => {
      const res = await search(max, { q: 'quick thin' });
      expect(res.body.hits.map((h: any) => h.message.id)).toEqual([ids.slowFox]);
      expect(marked(res.body.hits[0].highlight)).toEqual(['quick', 'thinking']);
      const one = await search(max, { q: 'depl' });
      expect(one.body.total).toBe(2);
    });

    it('matches a prefix of more words than it expands into, and a prefix of no word', async () => {
      const letters = 'abcdefghijklmnopqrstuvwxyz';
      const words = Array.from({ length: PREFIX_EXPANSIONS + 1 }, (_, i) => `zzq${letters[Math.floor(i / 26)]}${letters[i % 26]}`);
      const id = await insertMessage(env.deps, general, owner, words.join(' '));
      const res = await search(max, { q: 'zzq' });
      expect(res.body.hits.map((h: any) => h.message.id)).toEqual([id]);
      expect(marked(res.body.hits[0].highlight)).toEqual(words);
      expect((await search(max, { q: 'zzqx' })).body.total).toBe(0);
      await env.deps.db('messages').where({ id }).update({ deleted_at: new Date() });
    });

    it('HTML-escapes the whole content and marks only matches', async () => {
      const res = await search(max, { q: 'alert ship' });
      expect(res.body.total).toBe(1);
      const { highlight } = res.body.hits[0];
      expect(highlight).toBe('&lt;script&gt;<mark>alert</mark>(&quot;pwned&quot;)&lt;/script&gt; release &amp; <mark>ship</mark> it');
      expect(highlight.replace(/<\/?mark>/g, '')).not.toMatch(/[<>"]/);
      expect(unescape(highlight)).toBe(res.body.hits[0].message.content);
    });

    it('treats content as plain text: words inside <tags> are searchable', async () => {
      const id = await insertMessage(env.deps, general, owner, 'use the <Select> component, not <style>tables</style>');
      const res = await search(max, { q: 'select tables' });
      expect(res.body.hits.map((h: any) => h.message.id)).toEqual([id]);
      expect(res.body.hits[0].highlight).toBe('use the &lt;<mark>Select</mark>&gt; component, not &lt;style&gt;<mark>tables</mark>&lt;/style&gt;');
      await env.deps.db('messages').where({ id }).update({ deleted_at: new Date() });
    });

    it('does not break escaped entities when a query word names one', async () => {
      const id = await insertMessage(env.deps, general, owner, 'amp & quot "x" lt <y>');
      const res = await search(max, { q: 'amp quot lt' });
      const hit = res.body.hits.find((h: any) => h.message.id === id);
      expect(hit.highlight).toBe('<mark>amp</mark> &amp; <mark>quot</mark> &quot;x&quot; <mark>lt</mark> &lt;y&gt;');
      await env.deps.db('messages').where({ id }).update({ deleted_at: new Date() });
    });

    it('answers stop words and punctuation-only queries with no hits, not an error', async () => {
      for (const q of ['the', '!!!', ':*', "'", '"', '-', 'or', '\\']) {
        const res = await search(max, { q });
        expect(res.status, q).toBe(200);
        expect(res.body.total, q).toBe(0);
      }
    });

    it('ranks relevance first and recency next', async () => {
      const res = await search(max, { q: 'deployment' });
      expect(res.body.hits.map((h: any) => h.message.id)).toEqual([ids.deployNew, ids.deployOld]);
    });
  });

  describe('filters, paging and facets', () => {
    it('filters by chat, sender and date range', async () => {
      expect((await search(max, { q: 'fox', sender_id: owner.id })).body.hits.map((h: any) => h.message.id)).toEqual([ids.slowFox]);
      expect((await search(owner, { q: 'pineapple', chat_id: secret })).body.total).toBe(2);
      const recent = await search(max, { q: 'deployment', from: new Date(Date.now() - 7 * 86_400_000).toISOString() });
      expect(recent.body.hits.map((h: any) => h.message.id)).toEqual([ids.deployNew]);
      const old = await search(max, { q: 'deployment', to: new Date(Date.now() - 7 * 86_400_000).toISOString().slice(0, 10) });
      expect(old.body.hits.map((h: any) => h.message.id)).toEqual([ids.deployOld]);
      // A date-only `to` includes that whole day.
      const today = new Date().toISOString().slice(0, 10);
      expect((await search(max, { q: 'fox', from: today, to: today })).body.total).toBe(2);
    });

    it('counts total and facets over the whole result set, not the page', async () => {
      const first = await search(owner, { q: 'pineapple', limit: 1 });
      expect(first.body.hits).toHaveLength(1);
      expect(first.body).toMatchObject({ total: 3, total_exact: true });
      expect(first.body.facets.chat_id).toEqual({ [secret]: 2, [guestRoom]: 1 });
      expect(first.body.facets.sender_id).toEqual({ [owner.id]: 1, [mia.id]: 1, [gus.id]: 1 });
      const pages = await Promise.all([0, 1, 2, 3].map((offset) => search(owner, { q: 'pineapple', limit: 1, offset })));
      const seen = pages.flatMap((p) => p.body.hits.map((h: any) => h.message.id));
      expect(new Set(seen).size).toBe(3);
      expect(pages[3].body.hits).toEqual([]);
      expect(pages[3].body.total).toBe(3);
    });
  });

  describe('large result sets', () => {
    it('counts and facets only the newest MATCH_WINDOW matches, and pages past them', async () => {
      const chat = await fixtureChat(env.deps, wid, owner, [mia], 'private', 'bulk');
      const count = MATCH_WINDOW + 100;
      // The newest MATCH_WINDOW messages also say "boundary": exactly a window of matches.
      await env.deps.db.raw(
        `insert into messages (id, chat_id, workspace_id, seq, sender_id, client_id, content, created_at)
         select gen_random_uuid(), ?, ?, i, ?, 'bulk-' || i, 'bulkword number ' || i || case when i <= ? then ' boundary' else '' end,
                now() - i * interval '1 minute'
         from generate_series(1, ?) as i`,
        [chat, wid, mia.id, MATCH_WINDOW, count],
      );
      const first = await search(mia, { q: 'bulkword', limit: 100 });
      expect(first.body).toMatchObject({ total: MATCH_WINDOW, total_exact: false });
      expect(first.body.facets.chat_id).toEqual({ [chat]: MATCH_WINDOW });
      expect(first.body.facets.sender_id).toEqual({ [mia.id]: MATCH_WINDOW });
      expect(first.body.hits[0].message.content).toBe('bulkword number 1 boundary'); // equal relevance: newest first

      const edge = await search(mia, { q: 'bulkword boundary', chat_id: chat, limit: 1 });
      expect(edge.body).toMatchObject({ total: MATCH_WINDOW, total_exact: true, facets: { chat_id: { [chat]: MATCH_WINDOW } } });

      // A page past the window widens it to offset + limit, which here counts every match.
      const last = await search(mia, { q: 'bulkword', limit: 100, offset: count - 50 });
      expect(last.body).toMatchObject({ total: count, total_exact: true });
      expect(last.body.hits).toHaveLength(50);
      expect(last.body.hits.at(-1).message.content).toBe(`bulkword number ${count}`);
      await env.deps.db('messages').where({ chat_id: chat }).update({ deleted_at: new Date() });
    });
  });

  describe('permissions', () => {
    it('never shows a private chat to a non-member, through any filter combination', async () => {
      const attempts: Array<Record<string, string>> = [
        { q: 'pineapple' },
        { q: 'pineapple', chat_id: secret },
        { q: 'pineapple', chat_id: secret, sender_id: owner.id },
        { q: 'pineapple', sender_id: mia.id },
        { q: 'secret merger' },
        { q: '"merger codename"', chat_id: secret, from: '2000-01-01', to: '2100-01-01' },
        { q: 'pine' },
        { q: 'pineapple -fox', chat_id: guestRoom },
      ];
      for (const query of attempts) {
        const res = await search(max, query);
        expect(res.status, JSON.stringify(query)).toBe(200);
        expect(res.body.total, JSON.stringify(query)).toBe(0);
        expect(res.body.hits).toEqual([]);
        expect(res.body.facets, JSON.stringify(query)).toEqual({ chat_id: {}, sender_id: {} });
      }
    });

    it('lets chat members find private messages; never other workspaces', async () => {
      const res = await search(mia, { q: 'pineapple' });
      expect(res.body.hits.map((h: any) => h.message.id).sort()).toEqual([ids.secret, ids.secret2].sort());
      expect(res.body.facets.chat_id).toEqual({ [secret]: 2 });
    });

    it('shows public chats to members who have not joined them, but not to guests', async () => {
      expect((await search(max, { q: 'lazy dog' })).body.total).toBe(1);
      const guest = await search(gus, { q: 'pineapple fox dog' });
      expect(guest.body.total).toBe(0);
      const own = await search(gus, { q: 'pineapple' });
      expect(own.body.hits.map((h: any) => h.message.id)).toEqual([ids.guest]);
      expect(own.body.facets.chat_id).toEqual({ [guestRoom]: 1 });
      expect((await search(gus, { q: 'lazy', chat_id: general })).body.total).toBe(0);
    });
  });

  describe('real-time indexing', () => {
    it('finds a message as soon as it is committed, follows edits, and drops deletes', async () => {
      const id = await insertMessage(env.deps, general, mia, 'kumquat harvest report');
      expect((await search(max, { q: 'kumquat' })).body.hits.map((h: any) => h.message.id)).toEqual([id]);
      expect((await search(max, { q: 'kumq' })).body.hits.map((h: any) => h.message.id)).toEqual([id]);

      await env.deps.db('messages').where({ id }).update({ content: 'persimmon harvest report', edited_at: new Date() });
      expect((await search(max, { q: 'kumquat' })).body.total).toBe(0);
      expect((await search(max, { q: 'persimm' })).body.hits.map((h: any) => h.message.id)).toEqual([id]);
      const edited = await search(max, { q: 'persimmon' });
      expect(edited.body.hits[0].message.edited_at).not.toBeNull();
      expect(edited.body.hits[0].highlight).toBe('<mark>persimmon</mark> harvest report');

      await env.deps.db('messages').where({ id }).update({ deleted_at: new Date() });
      const gone = await search(max, { q: 'persimmon harvest' });
      expect(gone.body.total).toBe(0);
      expect(gone.body.facets).toEqual({ chat_id: {}, sender_id: {} });
    });
  });

  describe('tenant isolation of the term dictionary', () => {
    let ours: string, theirs: string[], otherChat: string;
    const dictionary = async (lexeme: string) =>
      (await env.deps.db('search_lexemes').where({ lexeme }).orderBy('workspace_id').select('workspace_id')).map((r) => String(r.workspace_id));

    beforeAll(async () => {
      otherChat = await fixtureChat(env.deps, otherWid, stranger, [], 'private', 'their words');
      ours = await insertMessage(env.deps, general, owner, 'zzkalpha quarterly numbers');
      // More words of another workspace sharing the prefix than one expansion may hold.
      const words = Array.from({ length: PREFIX_EXPANSIONS + 10 }, (_, i) => `zzkb${10 + i}`);
      theirs = [await insertMessage(env.deps, otherChat, stranger, words.join(' '))];
    });
    afterAll(async () => {
      await env.deps
        .db('messages')
        .whereIn('id', [ours, ...theirs])
        .update({ deleted_at: new Date() });
    });

    it("expands a prefix into the searched workspace's own words only", async () => {
      expect(await expandPrefix(env.deps.db, wid, 'zzk')).toBe("'zzkalpha'");
      expect(await expandPrefix(env.deps.db, wid, 'zzkb')).toBe(NO_LEXEME);
      // Their own workspace still sees more than an expansion holds, and falls back to `zzk:*`.
      expect(await expandPrefix(env.deps.db, otherWid, 'zzk')).toBeNull();
      expect((await expandPrefix(env.deps.db, otherWid, 'zzkb1'))?.toString().split(' | ')).toHaveLength(10);
      const res = await search(max, { q: 'zzk' });
      expect(res.body.hits.map((h: any) => h.message.id)).toEqual([ours]);
      expect(marked(res.body.hits[0].highlight)).toEqual(['zzkalpha']);
      expect((await search(max, { q: 'zzkb' })).body.total).toBe(0);
    });

    it('records each lexeme under the workspace of its message, for batch inserts and edits', async () => {
      expect(await dictionary('zzkalpha')).toEqual([wid]);
      expect(await dictionary('zzkb10')).toEqual([otherWid]);
      // One statement inserting into two workspaces, as a persist batch does.
      const seqs = new Map(
        (await env.deps.db('chats').whereIn('id', [general, otherChat]).increment('last_seq', 1).returning(['id', 'last_seq'])).map((c) => [
          String(c.id),
          c.last_seq,
        ]),
      );
      const batch = [
        {
          id: uuidv7(),
          chat_id: general,
          workspace_id: wid,
          seq: seqs.get(general),
          sender_id: owner.id,
          client_id: 'batch-a',
          content: 'zzkshared from here',
        },
        {
          id: uuidv7(),
          chat_id: otherChat,
          workspace_id: otherWid,
          seq: seqs.get(otherChat),
          sender_id: stranger.id,
          client_id: 'batch-b',
          content: 'zzkshared from there zzktheirs',
        },
      ];
      await env.deps.db('messages').insert(batch);
      theirs.push(...batch.map((m) => m.id));
      expect(await dictionary('zzkshare')).toEqual([wid, otherWid]);
      expect(await dictionary('zzktheir')).toEqual([otherWid]);

      await env.deps.db('messages').where({ id: ours }).update({ content: 'zzkomega quarterly numbers', edited_at: new Date() });
      expect(await dictionary('zzkomega')).toEqual([wid]);
      expect(await expandPrefix(env.deps.db, wid, 'zzko')).toBe("'zzkomega'");
      expect((await search(max, { q: 'zzko' })).body.hits.map((h: any) => h.message.id)).toEqual([ours]);
      await env.deps.db('messages').where({ id: ours }).update({ deleted_at: new Date() });
      expect((await search(max, { q: 'zzko' })).body.total).toBe(0);
    });

    it('expands with one index range scan on (workspace_id, lexeme)', async () => {
      const conn = (await env.deps.db.client.acquireConnection()) as pg.ClientBase;
      try {
        await conn.query('begin');
        await conn.query('set local enable_seqscan = off');
        // knex bindings (?) as pg placeholders, in order.
        let n = 0;
        const { rows } = await conn.query(`explain (format json) ${EXPAND_SQL.replace(/\?/g, () => `$${++n}`)}`, ['zzk', wid, PREFIX_EXPANSIONS + 1]);
        const scans: Array<{ type: string; index?: string; cond?: string }> = [];
        const walk = (node: { 'Node Type': string; 'Relation Name'?: string; 'Index Name'?: string; 'Index Cond'?: string; Plans?: unknown[] }) => {
          if (node['Relation Name'] === 'search_lexemes') scans.push({ type: node['Node Type'], index: node['Index Name'], cond: node['Index Cond'] });
          for (const child of node.Plans ?? []) walk(child as typeof node);
        };
        walk(rows[0]['QUERY PLAN'][0].Plan);
        expect(scans).toHaveLength(1);
        expect(scans[0]).toMatchObject({ type: expect.stringMatching(/^Index (Only )?Scan$/), index: 'search_lexemes_pkey' });
        expect(scans[0].cond).toMatch(/workspace_id = .*lexeme >= .*lexeme < /);
      } finally {
        await conn.query('rollback');
        await env.deps.db.client.releaseConnection(conn);
      }
    });

    it('the migration backfills per workspace, and its down restores the shared dictionary', async () => {
      // Both directions inside one transaction that is rolled back, leaving the schema as it was.
      const rolledBack = new Error('rolled back');
      const migrated = env.deps.db.transaction(async (trx) => {
        await lexemesPerWorkspace.down(trx);
        const columns = await trx.raw(`select column_name from information_schema.columns where table_name = 'search_lexemes'`);
        expect(columns.rows.map((r: { column_name: string }) => r.column_name)).toEqual(['lexeme']);
        expect(await trx('search_lexemes').whereIn('lexeme', ['zzkb10', 'zzkshare']).orderBy('lexeme').pluck('lexeme')).toEqual(['zzkb10', 'zzkshare']);

        // Rebuilt from the messages as they are now: the edited-away word is gone.
        await lexemesPerWorkspace.up(trx);
        const rows = await trx('search_lexemes')
          .whereIn('lexeme', ['zzkalpha', 'zzkomega', 'zzkb10', 'zzkshare', 'zzktheir'])
          .orderBy(['lexeme', 'workspace_id'])
          .select('workspace_id', 'lexeme');
        expect(rows.map((r) => [String(r.workspace_id), r.lexeme])).toEqual([
          [otherWid, 'zzkb10'],
          [wid, 'zzkomega'],
          [wid, 'zzkshare'],
          [otherWid, 'zzkshare'],
          [otherWid, 'zzktheir'],
        ]);
        throw rolledBack;
      });
      await expect(migrated).rejects.toBe(rolledBack);
    });
  });

  describe('analytics', () => {
    it('logs every query with filters, hits, latency and engine', async () => {
      await search(admin, { q: 'Analytics Probe', chat_id: general, limit: 5 });
      const row = await eventually(() => env.deps.db('search_queries').where({ query: 'Analytics Probe' }).first());
      expect(row).toMatchObject({ workspace_id: wid, user_id: admin.id, hits: 0, engine: 'postgres', filters: { chat_id: general } });
      expect(row.took_ms).toBeGreaterThanOrEqual(0);
    });

    it('reports top and zero-result queries and latency percentiles to admins', async () => {
      for (const q of ['fox', 'fox', 'Fox ', 'zebra', 'zebra']) await search(mia, { q });
      await eventually(async () => ((await env.deps.db('search_queries').where({ workspace_id: wid, query: 'zebra' })).length === 2 ? true : undefined));
      const res = await request('GET', `/api/v1/workspaces/${wid}/search/analytics?period_days=7`, { token: admin.token });
      expect(res.status).toBe(200);
      expect(res.body.total_queries).toBeGreaterThanOrEqual(5);
      // Grouped case- and space-insensitively, most frequent first.
      const counts = res.body.top_queries.map((q: any) => q.count);
      expect(counts).toEqual([...counts].sort((a, b) => b - a));
      const fox = res.body.top_queries.find((q: any) => q.query === 'fox');
      expect(fox.count).toBeGreaterThanOrEqual(3);
      expect(res.body.top_queries.map((q: any) => q.query)).not.toContain('fox ');
      expect(res.body.zero_result_queries).toContainEqual({ query: 'zebra', count: 2 });
      expect(res.body.zero_result_queries.map((q: any) => q.query)).not.toContain('fox');
      const { p50, p95, p99 } = res.body.latency_ms;
      expect(p50).toBeGreaterThan(0);
      expect(p50).toBeLessThanOrEqual(p95);
      expect(p95).toBeLessThanOrEqual(p99);
      expect(new Date(res.body.period.to).getTime() - new Date(res.body.period.from).getTime()).toBe(7 * 86_400_000);
    });

    it('is for admins and owners only (403), strangers get 404, and validates period_days', async () => {
      expect((await request('GET', `/api/v1/workspaces/${wid}/search/analytics`, { token: owner.token })).status).toBe(200);
      expect((await request('GET', `/api/v1/workspaces/${wid}/search/analytics`, { token: mia.token })).status).toBe(403);
      expect((await request('GET', `/api/v1/workspaces/${wid}/search/analytics`, { token: gus.token })).status).toBe(403);
      expect((await request('GET', `/api/v1/workspaces/${wid}/search/analytics`, { token: stranger.token })).status).toBe(404);
      expect((await request('GET', `/api/v1/workspaces/${wid}/search/analytics?period_days=0`, { token: owner.token })).status).toBe(400);
    });

    it('answers an empty period with zero counts and null latency', async () => {
      const res = await request('GET', `/api/v1/workspaces/${otherWid}/search/analytics?period_days=1`, { token: stranger.token });
      expect(res.body).toMatchObject({ total_queries: 0, top_queries: [], zero_result_queries: [], latency_ms: { p50: null, p95: null, p99: null } });
    });
  });

  describe('engine selection', () => {
    it('reports postgres in readiness and needs no index jobs', async () => {
      expect(await searchCheck(env.deps).run()).toEqual({ engine: 'postgres' });
      await enqueueSearchIndex(env.deps, [{ op: 'upsert', message_id: ids.fox }]);
      expect(await env.deps.queues.search.count()).toBe(0);
    });

    it('documents the search routes in the OpenAPI document', async () => {
      const doc = await request('GET', '/api/v1/openapi.json');
      expect(doc.body.paths['/api/v1/workspaces/{wid}/search'].get.parameters.map((p: any) => p.name)).toEqual(
        expect.arrayContaining(['wid', 'q', 'chat_id', 'sender_id', 'from', 'to', 'limit', 'offset']),
      );
      expect(doc.body.paths['/api/v1/workspaces/{wid}/search'].get.responses['200'].content['application/json'].schema.required).toContain('total_exact');
      expect(doc.body.paths['/api/v1/workspaces/{wid}/search/analytics'].get).toBeDefined();
    });

    it('`fechatter reindex` explains that Postgres needs none and exits 0', async () => {
      const vars = { ...env.vars };
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'src/main.ts'), 'reindex'], {
        cwd: packageRoot,
        env: { ...process.env, ...vars, MEILISEARCH_URL: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (c) => (output += c));
      child.stderr.on('data', (c) => (output += c));
      const code = await new Promise((resolve) => child.once('exit', resolve));
      expect(code, output).toBe(0);
      expect(output).toMatch(/Postgres/);
    });
  });
});

describe('Meilisearch unreachable: searches fall back to Postgres', () => {
  let env: TestEnv;
  let api: Running;
  let request: ReturnType<typeof client>;
  let owner: FixtureUser;
  let wid: string;

  beforeAll(async () => {
    // A port nothing listens on: every Meilisearch call fails fast with a connection error.
    env = await createTestEnv({ MEILISEARCH_URL: `http://127.0.0.1:${await freePort()}`, ENABLE_CIRCUIT_BREAKER: 'true' });
    api = await startInProcess(env, 'api');
    request = client(api.url);
    owner = await fixtureUser(env.deps, 'Olivia');
    wid = await fixtureWorkspace(env.deps, owner);
    const chat = await fixtureChat(env.deps, wid, owner, [], 'private');
    await insertMessage(env.deps, chat, owner, 'fallback works even when meilisearch is down');
  });
  afterAll(async () => {
    await api?.stop();
    await env?.close();
  });

  it('answers from postgres, then opens the breaker and reports it in readiness', async () => {
    for (let i = 0; i < 6; i++) {
      const res = await request('GET', `/api/v1/workspaces/${wid}/search?q=fallback`, { token: owner.token });
      expect(res.status).toBe(200);
      expect(res.body.engine).toBe('postgres');
      expect(res.body.total).toBe(1);
      expect(res.body.hits[0].highlight).toBe('<mark>fallback</mark> works even when meilisearch is down');
    }
    expect(breakerState(env.deps)).toBe('open');
    await expect(searchCheck(env.deps).run()).rejects.toThrow(/breaker open/);
    const ready = await request('GET', '/health/ready');
    expect(ready.status).toBe(200);
    const row = await eventually(() => env.deps.db('search_queries').where({ query: 'fallback' }).first());
    expect(row.engine).toBe('postgres');
  });

  it('queues index jobs for the worker while Meilisearch is configured', async () => {
    await enqueueSearchIndex(env.deps, [
      { op: 'upsert', message_id: uuidv7() },
      { op: 'delete', message_id: uuidv7() },
    ]);
    const jobs = await env.deps.queues.search.getJobs(['waiting']);
    expect(jobs).toHaveLength(1);
    expect(jobs[0].data.ops).toHaveLength(2);
  });
});
