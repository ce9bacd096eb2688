// Liveness and readiness. Readiness reports each dependency with its latency; a required one
// that is down makes the answer 503. Optional ones (search engines) are reported, never fatal.
export interface CheckResult {
  ok: boolean;
  latency_ms: number;
  error?: string;
  [extra: string]: unknown;
}

export interface Check {
  name: string;
  required: boolean;
  run: () => Promise<Record<string, unknown> | void>;
}

async function timed(check: Check, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const extra = await Promise.race([
      check.run(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, latency_ms: Math.round((performance.now() - started) * 100) / 100, ...(extra ?? {}) };
  } catch (err) {
    return { ok: false, latency_ms: Math.round(performance.now() - started), error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export async function readiness(checks: Check[], timeoutMs = 2000) {
  const results = await Promise.all(checks.map((c) => timed(c, timeoutMs)));
  const entries = checks.map((c, i) => [c.name, results[i]] as const);
  const ready = checks.every((c, i) => !c.required || results[i].ok);
  return { status: ready ? 'ok' : 'unavailable', ready, checks: Object.fromEntries(entries) };
}
