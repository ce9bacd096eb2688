// Operations endpoints, at the root (not under /api/v1): health, metrics. Served by every role.
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { UnauthenticatedError } from '../../errors.js';
import { readiness, type Check } from '../../observability/health.js';
import { registry } from '../../observability/metrics.js';
import { bearerToken, route, type RouteSpec } from '../route.js';

//  method  path            guard
//  GET     /health/live    public
//  GET     /health/ready   public
//  GET     /metrics        public (bearer METRICS_TOKEN when set)

const checkSchema = z.object({ ok: z.boolean(), latency_ms: z.number(), error: z.string().optional() });

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function opsRoutes(checks: Check[], metricsToken: string | undefined): RouteSpec[] {
  return [
    route<undefined, undefined, Record<string, never>, 'public'>({
      method: 'get',
      path: '/health/live',
      guard: 'public',
      tag: 'operations',
      summary: 'Liveness: 200 while the process runs',
      responses: { 200: { description: 'alive', schema: z.object({ status: z.literal('ok') }) } },
      handler: async () => ({ status: 200, body: { status: 'ok' } }),
    }),
    route<undefined, undefined, Record<string, never>, 'public'>({
      method: 'get',
      path: '/health/ready',
      guard: 'public',
      tag: 'operations',
      summary: 'Readiness of each dependency with its latency',
      responses: {
        200: { description: 'ready', schema: z.object({ status: z.string(), checks: z.record(z.string(), checkSchema) }) },
        503: { description: 'a required dependency is down', schema: z.object({ status: z.string(), checks: z.record(z.string(), checkSchema) }) },
      },
      handler: async () => {
        const { ready, ...body } = await readiness(checks);
        return { status: ready ? 200 : 503, body };
      },
    }),
    route<undefined, undefined, Record<string, never>, 'public'>({
      method: 'get',
      path: '/metrics',
      guard: 'public',
      tag: 'operations',
      summary: 'Prometheus metrics (text exposition format)',
      responses: { 200: { description: 'metrics' }, 401: { description: 'METRICS_TOKEN is set and the bearer token differs' } },
      handler: async ({ ctx }) => {
        if (metricsToken && !sameSecret(bearerToken(ctx, false), metricsToken)) throw new UnauthenticatedError();
        return { status: 200, headers: { 'Content-Type': registry.contentType }, body: await registry.metrics() };
      },
    }),
  ];
}
