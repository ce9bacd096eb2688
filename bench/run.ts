// The benchmark driver (not a test): `npm run bench [-- --quick] [--only send,auth,...]
// [--topology=2web,2worker,2fanout [--shards=1,4] [--redis=single,cluster]]
// [--search-messages 1000000] [--profile]`.
// Starts one private PostgreSQL and redis-server, runs the chosen benchmarks one after the other
// (each bounded in time), and writes bench/results/<date>.json and .md: every figure next to its
// baseline from the same run. See bench/README.md.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../src/version.js';
import { fileStamp, killChildren, startBenchServices, type BenchModule, type BenchOptions, type BenchRow } from './lib.js';

const BENCHES: Record<string, { module: () => Promise<BenchModule>; covers: string[] }> = {
  send: { module: () => import('./send.js'), covers: ['send', 'persist'] },
  auth: { module: () => import('./auth.js'), covers: ['auth'] },
  history: { module: () => import('./history.js'), covers: ['history'] },
  search: { module: () => import('./search.js'), covers: ['search'] },
  fanout: { module: () => import('./fanout.js'), covers: ['fanout', 'connections'] },
  e2e: { module: () => import('./topology.js'), covers: ['e2e', 'topology'] },
};

function parseArgs(argv: string[]): Record<string, string | boolean> {
  const args: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument "${argv[i]}"`);
    if (m[2] !== undefined) args[m[1]] = m[2];
    else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) args[m[1]] = argv[++i];
    else args[m[1]] = true;
  }
  return args;
}

const fmtNumber = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v >= 100 ? 0 : 2)) : String(v));

/** The figures of a result in one Markdown cell, most telling first. */
function cell(r: Record<string, unknown> | undefined): string {
  if (!r) return '';
  const parts: string[] = [];
  const shown = new Set(['requests', 'seconds', 'mean_ms', 'concurrency']);
  if (r.rps !== undefined) parts.push(`**${fmtNumber(r.rps)}/s**`);
  if (r.p50_ms !== undefined) parts.push(`p50 ${fmtNumber(r.p50_ms)} ms`);
  if (r.p99_ms !== undefined) parts.push(`**p99 ${fmtNumber(r.p99_ms)} ms**`);
  for (const [k, v] of Object.entries(r)) {
    if (shown.has(k) || k === 'rps' || k === 'p50_ms' || k === 'p99_ms') continue;
    if ((k === 'errors' || k === 'missing') && v === 0) continue;
    parts.push(`${k} ${fmtNumber(v)}`);
  }
  return parts.join(', ');
}

function ratio(row: BenchRow): string {
  const r = row.result;
  const b = row.baseline?.result;
  if (!b) return '';
  if (r.offered_rps !== undefined && typeof r.p99_ms === 'number' && typeof b.p99_ms === 'number')
    return `p99 ${fmtNumber(r.p99_ms)} vs ${fmtNumber(b.p99_ms)} ms`;
  if (typeof r.rps === 'number' && typeof b.rps === 'number' && b.rps > 0) return `${Math.round((r.rps / b.rps) * 100)}%`;
  if (typeof r.p99_ms === 'number' && typeof b.p99_ms === 'number') return `p99 ${fmtNumber(r.p99_ms)} vs ${fmtNumber(b.p99_ms)} ms`;
  if (typeof r.rss_per_connection_kb === 'number' && typeof b.rss_per_connection_kb === 'number')
    return `${fmtNumber(r.rss_per_connection_kb)} vs ${fmtNumber(b.rss_per_connection_kb)} KB/conn`;
  return '';
}

export function markdown(report: {
  date: string;
  quick: boolean;
  machine: Record<string, unknown>;
  command: string;
  rows: BenchRow[];
  failures: Array<{ bench: string; error: string }>;
}): string {
  const lines = [
    `# Fechatter benchmarks, ${report.date}${report.quick ? ' (quick)' : ''}`,
    '',
    `\`${report.command}\` on ${report.machine.cpus} CPUs (${report.machine.cpu_model}), Node ${report.machine.node}, load average at start ${report.machine.loadavg}. ` +
      'The load generator runs on the same machine; every figure has its baseline from the same run.',
    '',
    '| bench | case | result | baseline | vs baseline | target |',
    '|---|---|---|---|---|---|',
  ];
  for (const row of report.rows) {
    const target = row.target ? `${row.target.met ? 'met' : '**not met**'}: ${row.target.text}` : '';
    const baseline = row.baseline ? `${row.baseline.case}: ${cell(row.baseline.result)}` : '';
    lines.push(`| ${row.bench} | ${row.case}${row.note ? ` (${row.note})` : ''} | ${cell(row.result)} | ${baseline} | ${ratio(row)} | ${target} |`);
  }
  for (const f of report.failures) lines.push('', `**${f.bench} failed:** ${f.error.split('\n')[0]}`);
  return lines.join('\n') + '\n';
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const quick = args.quick === true;
  const only = typeof args.only === 'string' ? args.only.split(',').map((s) => s.trim()) : undefined;
  for (const name of only ?? []) if (!Object.values(BENCHES).some((b) => b.covers.includes(name))) throw new Error(`--only: unknown benchmark "${name}"`);
  // --topology alone runs the multi-process comparison only.
  const chosen = Object.entries(BENCHES).filter(([name, b]) => (only ? b.covers.some((c) => only.includes(c)) : args.topology ? name === 'e2e' : true));
  // --topology and the lists of --shards and --redis are checked before services start; each
  // combination is one more multi-process run, so the topology module's time bound grows with them.
  const topology = args.topology !== undefined || args.shards !== undefined || args.redis !== undefined ? await import('./topology.js') : undefined;
  if (typeof args.topology === 'string') topology!.parseTopology(args.topology);
  const variants = topology?.parseVariants(args);
  const topologyRuns = 1 + (variants?.length ?? 1);
  const perBenchSeconds = quick ? 100 : 900;
  const boundOf = (name: string) => (name === 'e2e' ? perBenchSeconds * Math.max(1, Math.ceil(topologyRuns / 2)) : perBenchSeconds);
  if (variants) armHardLimit(Math.max(quick ? 170 : 3600, boundOf('e2e') + 120));
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);

  log('starting private PostgreSQL and redis-server');
  const services = await startBenchServices();
  // Interrupted (Ctrl-C, or `timeout` sending SIGTERM): the private services go too, not left running.
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      log(`${signal}: stopping the benchmark's processes and services`);
      killChildren();
      void services.stop().finally(() => process.exit(130));
    });
  const rows: BenchRow[] = [];
  const failures: Array<{ bench: string; error: string }> = [];
  const machine = {
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? '?',
    node: process.version,
    loadavg: os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
  };
  try {
    for (const [name, bench] of chosen) {
      const options: BenchOptions & { only?: string[] } = { quick, services, log, args, only };
      const mod = await bench.module();
      let timer: NodeJS.Timeout | undefined;
      try {
        const result = await Promise.race([
          mod.run(options),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${boundOf(name)} s`)), boundOf(name) * 1000);
          }),
        ]);
        rows.push(...result);
        log(`${name}: done`);
      } catch (err) {
        log(`${name}: FAILED ${(err as Error).stack ?? err}`);
        failures.push({ bench: name, error: String((err as Error).message ?? err) });
        killChildren();
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    killChildren();
    await services.stop().catch((err) => log(`stopping services: ${err}`));
  }

  const now = new Date();
  // Seconds in the name, and what was run, so runs in the same minute do not overwrite each other.
  const date = fileStamp(now);
  const onlySuffix = typeof args.only === 'string' ? `-${args.only.replace(/[^a-z0-9]+/gi, '_')}` : '';
  const file = `${date}${quick ? '-quick' : ''}${args.topology ? '-topology' : ''}${onlySuffix}`;
  const dir = path.join(packageRoot, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const report = { date: now.toISOString(), quick, command, args, machine, seconds: Math.round((Date.now() - started) / 1000), rows, failures };
  writeFileSync(path.join(dir, `${file}.json`), JSON.stringify(report, null, 2) + '\n');
  const md = markdown(report);
  writeFileSync(path.join(dir, `${file}.md`), md);
  process.stdout.write(md);
  log(`wrote bench/results/${file}.json and .md in ${report.seconds} s`);
  process.exitCode = failures.length ? 1 : 0;
}

let hardLimit: NodeJS.Timeout | undefined;
function armHardLimit(seconds: number): void {
  clearTimeout(hardLimit);
  hardLimit = setTimeout(() => {
    process.stderr.write('bench: hard time limit reached\n');
    killChildren();
    process.exit(2);
  }, seconds * 1000);
  hardLimit.unref();
}
armHardLimit(process.argv.includes('--quick') ? 170 : 3600);

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    killChildren();
    setTimeout(() => process.exit(), 200).unref();
  });
