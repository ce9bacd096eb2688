// Bull Board at /admin/queues cannot be used to inject jobs (a persist job is a message sent as
// anyone): read-only by default, and with ADMIN_QUEUES_WRITABLE its actions need a same-origin
// request, since browsers attach the admin's Basic credentials to forged cross-site requests too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreateMessageJob } from '../../src/infra/queues.js';
import type { Running } from '../../src/roles.js';
import { client, createTestEnv, startInProcess, type TestEnv } from '../helpers/env.js';

const ADMIN_USER = 'ops';
const ADMIN_PASSWORD = 'correct horse battery';
const basic = { authorization: `Basic ${Buffer.from(`${ADMIN_USER}:${ADMIN_PASSWORD}`).toString('base64')}` };
/** A message "sent" by user 1, as a forged form would post it to bull-board's add-job route. */
const message: CreateMessageJob = {
  kind: 'create',
  id: '00000000-0000-7000-8000-000000000001',
  chat_id: '1',
  workspace_id: '1',
  sender_id: '1',
  client_id: 'forged',
  content: 'injected',
  reply_to: null,
  accepted_at: 0,
};
const forged = { name: 'persist', data: message };

/** Every job of the persist queue, whatever its state. */
async function persistJobs(env: TestEnv): Promise<number> {
  const counts = await env.deps.queues.persist.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized', 'paused');
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** An api role (no workers, so an added job stays in its queue) with these settings. */
function board(overrides: Record<string, string>) {
  const ctx = {} as { env: TestEnv; api: Running; request: ReturnType<typeof client> };
  beforeAll(async () => {
    ctx.env = await createTestEnv({ ADMIN_USER, ADMIN_PASSWORD, ...overrides });
    ctx.api = await startInProcess(ctx.env, 'api');
    ctx.request = client(ctx.api.url);
  });
  afterAll(async () => {
    await ctx.api?.stop();
    await ctx.env?.close();
  });
  return ctx;
}

describe('Bull Board by default', () => {
  const b = board({});

  it('shows the queues but refuses to add, retry, promote or clean jobs, even same-origin', async () => {
    const origin = { ...basic, origin: b.api.url };
    expect((await b.request('GET', '/admin/queues', { headers: basic })).status).toBe(200);
    const add = await b.request('POST', '/admin/queues/api/queues/persist/add', { headers: origin, body: forged });
    expect(add.status).toBe(403);
    expect(add.body).toEqual({ error: { code: 'forbidden', message: expect.any(String), details: [] } });
    const job = await b.env.deps.queues.persist.add('persist', { ...message, id: '00000000-0000-7000-8000-000000000002' });
    for (const path of [
      `persist/${job.id}/retry`,
      'persist/retry/failed',
      `persist/${job.id}/promote`,
      `persist/${job.id}/clean`,
      'persist/clean/waiting',
      'pause',
    ]) {
      const res = await b.request('PUT', `/admin/queues/api/queues/${path}`, { headers: origin });
      expect(res.status, path).toBe(403);
    }
    expect(await persistJobs(b.env)).toBe(1); // only the probe: nothing added, nothing cleaned
    expect(await b.env.deps.queues.persist.isPaused()).toBe(false);
    // Bull Board itself knows (it hides the actions and refuses them with 405 too).
    const queues = await b.request('GET', '/admin/queues/api/queues', { headers: basic });
    expect(queues.status).toBe(200);
    expect(queues.body.queues.every((q: { readOnlyMode: boolean }) => q.readOnlyMode)).toBe(true);
  });
});

describe('Bull Board with ADMIN_QUEUES_WRITABLE=true', () => {
  const b = board({ ADMIN_QUEUES_WRITABLE: 'true' });

  it('refuses actions from another origin, or of unknown origin, with 403; accepts same-origin ones', async () => {
    const add = (headers: Record<string, string>) =>
      b.request('POST', '/admin/queues/api/queues/persist/add', { headers: { ...basic, ...headers }, body: forged });
    const crossSite = await add({ origin: 'https://evil.example' });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body).toEqual({ error: { code: 'forbidden', message: expect.any(String), details: [] } });
    expect((await add({ referer: 'https://evil.example/form.html' })).status).toBe(403);
    expect((await add({})).status).toBe(403);
    expect(await persistJobs(b.env)).toBe(0);

    const sameOrigin = await add({ origin: b.api.url });
    expect(sameOrigin.status).toBe(200);
    expect((await add({ referer: `${b.api.url}/admin/queues/queue/persist` })).status).toBe(200);
    expect(await persistJobs(b.env)).toBe(2);
    const pause = await b.request('PUT', '/admin/queues/api/queues/persist/pause', { headers: { ...basic, origin: b.api.url } });
    expect(pause.status).toBe(200);
    expect(await b.env.deps.queues.persist.isPaused()).toBe(true);
    expect((await b.request('GET', '/admin/queues', { headers: basic })).status).toBe(200);
  });
});
