// Circuit breakers (opossum). While a dependency keeps failing, calls fail fast instead of
// piling up on timeouts; after `resetTimeout` one call probes it (half-open) and a success
// closes the breaker again. Only failures of the dependency itself count, never a 404 or 400.
import CircuitBreaker from 'opossum';
import { metrics } from '../observability/metrics.js';

export type BreakerState = 'closed' | 'half_open' | 'open';

export interface Breaker {
  name: string;
  run<T>(fn: () => Promise<T>): Promise<T>;
  state(): BreakerState;
}

export interface BreakerOptions {
  enabled: boolean;
  /** Which errors mean the dependency is failing. */
  isFailure: (err: unknown) => boolean;
  /**
   * After this long the caller gets an error (code ETIMEDOUT) and it counts as a failure
   * (default 5000). opossum cannot stop the work itself: whatever `fn` started keeps going
   * unless the dependency has a timeout of its own (Postgres: statement_timeout).
   */
  timeoutMs?: number;
  resetTimeoutMs?: number;
}

const stateValue: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export function createBreaker(name: string, options: BreakerOptions): Breaker {
  if (!options.enabled) return { name, run: (fn) => fn(), state: () => 'closed' };
  const breaker = new CircuitBreaker(async (fn: () => Promise<unknown>) => fn(), {
    name,
    timeout: options.timeoutMs ?? 5000,
    resetTimeout: options.resetTimeoutMs ?? 5000,
    errorThresholdPercentage: 50,
    volumeThreshold: 5,
    rollingCountTimeout: 10_000,
    errorFilter: (err: unknown) => !options.isFailure(err),
  });
  const state = (): BreakerState => (breaker.opened ? 'open' : breaker.halfOpen ? 'half_open' : 'closed');
  const report = () => metrics.breakerState.set({ breaker: name }, stateValue[state()]);
  breaker.on('open', report);
  breaker.on('halfOpen', report);
  breaker.on('close', report);
  report();
  return {
    name,
    run: <T>(fn: () => Promise<T>) => breaker.fire(fn) as Promise<T>,
    state,
  };
}
