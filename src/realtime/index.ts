// The fanout role: WebSocket (/api/v1/ws) and SSE (/api/v1/events) connections fed from the
// event stream. See ARCHITECTURE.md, "The event path".
import type http from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import type { Deps } from '../deps.js';
import type { Check } from '../observability/health.js';

export interface Realtime {
  /** The SSE route, mounted into the API app in `all` mode. */
  router: Router;
  /** A standalone app for the fanout role: SSE plus /health and /metrics. */
  app(checks: Check[]): Koa;
  /** Accepts WebSocket upgrades on the server. */
  attach(server: http.Server): void;
  close(): Promise<void>;
}

export async function createRealtime(_deps: Deps): Promise<Realtime> {
  const router = new Router();
  return {
    router,
    app: () => new Koa(),
    attach: () => {},
    close: async () => {},
  };
}
