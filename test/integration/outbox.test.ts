// The event outbox against real Postgres and Redis: events commit with their change, a publish
// that fails after COMMIT is made good by the relay, and no event reaches the stream twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishOutbox, recordEvents, relayOutbox } from '../../src/domain/outbox.js';
import { applyReceipts } from '../../src/domain/receipts.js';
import { updateWorkspace } from '../../src/domain/workspaces.js';
import { publishOutboxEntries, type ChatEvent } from '../../src/infra/events.js';
import { createRedis } from '../../src/infra/redis.js';
import { createTestEnv, streamEventsAfter, streamMark, type TestEnv } from '../helpers/env.js';
import { fixtureChat, fixtureMessage, fixtureUser, fixtureWorkspace } from '../helpers/fixtures.js';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env?.close();
});

const outboxRows = async () => Number((await env.deps.db('event_outbox').count({ n: '*' }).first())!.n);
/** Ages the outbox rows past the relay's delay instead of waiting for it. */
const ageOutbox = () => env.deps.db('event_outbox').update({ created_at: env.deps.db.raw("now() - interval '1 minute'") });
const updated = (workspaceId: string, name: string): ChatEvent => ({
  type: 'workspace.updated',
  workspace_id: workspaceId,
  chat_id: null,
  data: { id: workspaceId, name },
});

describe('the event outbox', () => {
  it('a change whose publish fails after COMMIT is published by the relay, once', async () => {
    const owner = await fixtureUser(env.deps, 'Owner');
    const wid = await fixtureWorkspace(env.deps, owner);
    const mark = await streamMark(env);
    // A real client of a Redis that is not there: the change commits, its publish fails.
    const unreachable = createRedis('redis://127.0.0.1:1', 'command');
    await updateWorkspace({ ...env.deps, redis: unreachable }, owner.id, wid, { name: 'Committed' });
    unreachable.disconnect();
    expect(await outboxRows()).toBe(1);
    expect(await streamEventsAfter(env, mark)).toEqual([]);

    expect(await relayOutbox(env.deps)).toBe(0); // younger than the relay's delay: its publisher may still be at it
    await ageOutbox();
    expect(await relayOutbox(env.deps)).toBe(1);
    expect(await relayOutbox(env.deps)).toBe(0);
    expect(await outboxRows()).toBe(0);
    expect(await streamEventsAfter(env, mark)).toMatchObject([{ type: 'workspace.updated', workspace_id: wid, data: { id: wid, name: 'Committed' } }]);
  });

  it('an outbox row published again (a publisher that died after its XADD) reaches the stream once', async () => {
    const owner = await fixtureUser(env.deps, 'Owner');
    const wid = await fixtureWorkspace(env.deps, owner);
    const mark = await streamMark(env);
    const recorded = await env.deps.db.transaction((trx) => recordEvents(trx, [updated(wid, 'once')]));
    // The XADD went out, then the process died before deleting the row.
    expect(await publishOutboxEntries(env.deps.redis, env.deps.stream, [{ event: updated(wid, 'once'), outbox_id: recorded[0] }])).toEqual([
      expect.any(String),
    ]);
    await ageOutbox();
    expect(await relayOutbox(env.deps)).toBe(1);
    expect(await outboxRows()).toBe(0);
    expect((await streamEventsAfter(env, mark)).map((e) => e.data.name)).toEqual(['once']);
  });

  it('the publisher and the relay racing over the same rows publish each once, in order', async () => {
    const owner = await fixtureUser(env.deps, 'Owner');
    const wid = await fixtureWorkspace(env.deps, owner);
    const mark = await streamMark(env);
    const names = Array.from({ length: 20 }, (_, i) => `n${i}`);
    const recorded = await env.deps.db.transaction((trx) =>
      recordEvents(
        trx,
        names.map((name) => updated(wid, name)),
      ),
    );
    await ageOutbox();
    await Promise.all([publishOutbox(env.deps, recorded), relayOutbox(env.deps), relayOutbox(env.deps), publishOutbox(env.deps, recorded)]);
    expect((await streamEventsAfter(env, mark)).map((e) => e.data.name)).toEqual(names);
    expect(await outboxRows()).toBe(0);
  });

  it('a rolled-back change leaves no event behind', async () => {
    const owner = await fixtureUser(env.deps, 'Owner');
    const wid = await fixtureWorkspace(env.deps, owner);
    await expect(
      env.deps.db.transaction(async (trx) => {
        await recordEvents(trx, [updated(wid, 'never')]);
        throw new Error('the change failed');
      }),
    ).rejects.toThrow('the change failed');
    expect(await outboxRows()).toBe(0);
  });

  it('receipts: the moved watermark and its receipt.updated commit together', async () => {
    const [ann, bob] = await Promise.all(['Ann', 'Bob'].map((name) => fixtureUser(env.deps, name)));
    const wid = await fixtureWorkspace(env.deps, ann, [[bob, 'member']]);
    const chatId = await fixtureChat(env.deps, wid, ann, [bob]);
    await fixtureMessage(env.deps, chatId, ann, 'hello');
    const mark = await streamMark(env);
    const unreachable = createRedis('redis://127.0.0.1:1', 'command');
    expect(
      await applyReceipts({ ...env.deps, redis: unreachable }, [
        { chat_id: chatId, workspace_id: wid, user_id: bob.id, seq: 1, read_at: new Date().toISOString() },
      ]),
    ).toBe(1);
    unreachable.disconnect();
    expect(Number((await env.deps.db('chat_members').where({ chat_id: chatId, user_id: bob.id }).first('last_read_seq')).last_read_seq)).toBe(1);
    await ageOutbox();
    expect(await relayOutbox(env.deps)).toBe(1);
    expect(await streamEventsAfter(env, mark)).toMatchObject([{ type: 'receipt.updated', chat_id: chatId, data: { user_id: bob.id, last_read_seq: 1 } }]);
  });
});
