// Authenticated reads (not a test; `npm run bench -- --only auth`): GET /api/v1/me (JWT check,
// per-IP limit, the user and their workspaces from Postgres) next to a bare Koa endpoint that
// does only `jwt.verify` with the same options. Both run in this process at the same concurrency.
import jwt from 'jsonwebtoken';
import { startRole } from '../src/roles.js';
import { bareKoa, redisCommands, benchDeps, benchEnv, httpRequest, load, resetAgent, round, seedWorkspace, type BenchOptions, type BenchRow } from './lib.js';

export async function run(options: BenchOptions & { concurrency?: number }): Promise<BenchRow[]> {
  const seconds = options.quick ? 2 : 5;
  const concurrency = options.concurrency ?? 32;
  const { deps, close } = await benchDeps(benchEnv(options.services, { REDIS_PREFIX: `bauth${Date.now().toString(36)}` }));
  try {
    const { users } = await seedWorkspace(deps.db, deps.tokens, { users: 16, chats: 1, tag: 'auth' });
    const { secret, issuer, audience } = deps.tokens;
    const bare = await bareKoa((ctx) => {
      const token = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'))?.[1] ?? '';
      const payload = jwt.verify(token, secret, { algorithms: ['HS256'], issuer, audience }) as jwt.JwtPayload;
      ctx.body = { user: { id: payload.sub } };
    });
    options.log(`auth: bare Koa + jwt.verify, ${seconds} s at concurrency ${concurrency}`);
    const floor = await load({
      concurrency,
      seconds,
      fire: (i) => httpRequest(`${bare.url}/me`, 'GET', { authorization: `Bearer ${users[i % users.length].token}` }),
    });
    resetAgent();
    await bare.close();

    const api = await startRole('api', deps);
    const url = `${api.url}/api/v1/me`;
    await load({ concurrency: 4, seconds: 0.5, fire: (i) => httpRequest(url, 'GET', { authorization: `Bearer ${users[i % users.length].token}` }) });
    options.log(`auth: GET /me, ${seconds} s at concurrency ${concurrency}`);
    const cmds0 = await redisCommands(deps.redis);
    const me = await load({ concurrency, seconds, fire: (i) => httpRequest(url, 'GET', { authorization: `Bearer ${users[i % users.length].token}` }) });
    const redisPerReq = round(((await redisCommands(deps.redis)) - cmds0 - 1) / Math.max(1, me.requests), 1);
    resetAgent();
    await api.stop();
    return [
      {
        bench: 'auth',
        case: 'GET /me (authenticated)',
        result: { ...me, concurrency, redis_cmds_per_req: redisPerReq },
        baseline: { case: 'bare Koa + jwt.verify', result: { ...floor, concurrency } },
        target: { text: '>= 70% of bare Koa', met: me.rps / floor.rps >= 0.7 },
      },
    ];
  } finally {
    await close();
  }
}
