// Top frames of .cpuprofile files (from `npm run bench -- --profile`, or `node --cpu-prof`):
// `tsx bench/profile.ts bench/results/api-*.cpuprofile [--top 25]`. Self time per function, and
// inclusive time per package (node_modules/<name>) or area of this repository.
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const files = process.argv.slice(2).filter((a) => a.endsWith('.cpuprofile'));
const top = Number(process.argv[process.argv.indexOf('--top') + 1]) || 25;

const where = (url: string) => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  const r = /\/(src\/[^/]+|workers|bench)\//.exec(url);
  if (r) return r[1];
  return url.startsWith('node:') ? 'node:' + url.slice(5).split('/')[0] : url ? url.split('/').slice(-1)[0] : '(native/gc/idle)';
};

for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self.entries()].filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, v]) => a + v, 0);
  const busy = total - idle;
  const frames = new Map<string, number>();
  const packages = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, t] of self) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') continue;
    const key = `${f.functionName || '(anonymous)'} ${where(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    frames.set(key, (frames.get(key) ?? 0) + t);
    // Inclusive per package: count the sample once for each distinct package on its stack.
    const seen = new Set<string>();
    const seenFrames = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const cf = byId.get(n)!.callFrame;
      const pkg = where(cf.url);
      const fk = `${cf.functionName || '(anonymous)'} ${pkg}:${cf.lineNumber + 1}`;
      if (cf.url && !cf.url.startsWith('node:') && !seenFrames.has(fk)) {
        seenFrames.add(fk);
        inclusive.set(fk, (inclusive.get(fk) ?? 0) + t);
      }
      if (!seen.has(pkg)) {
        seen.add(pkg);
        packages.set(pkg, (packages.get(pkg) ?? 0) + t);
      }
    }
  }
  const pct = (t: number) => `${((t / busy) * 100).toFixed(1).padStart(5)}%`;
  console.log(`\n${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy`);
  console.log('  self time (of busy):');
  for (const [k, t] of [...frames].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`   ${pct(t)}  ${k}`);
  console.log('  inclusive, application and library functions:');
  for (const [k, t] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`   ${pct(t)}  ${k}`);
  console.log('  inclusive by package/area:');
  for (const [k, t] of [...packages].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`   ${pct(t)}  ${k}`);
}
