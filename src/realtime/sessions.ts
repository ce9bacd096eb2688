// Live connections end with their session: every SWEEP_MS the fanout looks up the distinct
// sessions of its open connections in one batch (one MGET, at most one query) and ends those that
// were revoked (logout, password change, refresh-token reuse) with 'session_revoked'. Handshakes
// check the session themselves; this covers sockets opened before the revocation.
import { endedSessions, type SessionDeps } from '../domain/sessions.js';
import type { Logger } from '../observability/logger.js';
import type { Connection } from './connection.js';

const SWEEP_MS = 2000;

/** Starts the sweeper; the returned function stops it. */
export function startSessionSweeper(deps: SessionDeps, connections: () => Connection[], log: Logger): () => void {
  let running = false;
  const sweep = async () => {
    const open = connections().filter((conn) => conn.state !== 'closed');
    if (running || open.length === 0) return;
    running = true;
    try {
      const sessions = new Map(open.map((conn) => [conn.sessionId, conn.userId]));
      const ended = await endedSessions(
        deps,
        [...sessions].map(([sessionId, userId]) => ({ userId, sessionId })),
      );
      for (const conn of open) if (ended.has(conn.sessionId)) conn.end('session_revoked');
    } catch (err) {
      // Not cached and Postgres away: keep the connections (nobody can revoke meanwhile either) and retry.
      log.warn({ err: (err as Error).message }, 'checking the sessions of live connections failed');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void sweep(), SWEEP_MS);
  timer.unref();
  return () => clearInterval(timer);
}
