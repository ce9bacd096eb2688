// `npm start` on a machine with nothing configured: private PostgreSQL and redis-server under
// DATA_DIR, migrations, one URL serving everything, clean stop, data kept across restarts.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, chmodSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/version.js';
import { client } from '../helpers/env.js';

function startAll(dataDir: string, port = 0) {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', NODE_ENV: 'development' };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET', 'REDIS_PREFIX']) delete env[name];
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'src/main.ts'), 'all'], {
    cwd: packageRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed:\n${output}`)), 90_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Fechatter is running at (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
  // Without a listener, a start that fails would count as an unhandled rejection.
  url.catch(() => {});
  return { child, url, exited, output: () => output };
}

/** Processes whose command line names `dir` (the private postgres and redis-server do). */
function processesUsing(dir: string): string[] {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(dir));
}

describe('npm start (fechatter all) on embedded services', () => {
  it('serves, stops cleanly and keeps data across a restart', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-start-'));
    chmodSync(dataDir, 0o755);

    const first = startAll(dataDir);
    const request = client(await first.url);
    const ready = await request('GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.checks.postgres.ok).toBe(true);
    expect(ready.body.checks.redis.ok).toBe(true);
    const signup = await request('POST', '/api/v1/auth/signup', {
      body: { email: 'Restart@Example.com', password: 'correct horse battery', display_name: 'Restart' },
    });
    expect(signup.status).toBe(201);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
    expect(first.output()).toMatch(/"msg":"stopped"/);

    const second = startAll(dataDir);
    const again = client(await second.url);
    expect(second.output()).toMatch(/schema is up to date/);
    const login = await again('POST', '/api/v1/auth/login', { body: { email: 'restart@example.com', password: 'correct horse battery' } });
    expect(login.status).toBe(200);
    expect(login.body.user.id).toBe(signup.body.user.id);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  }, 180_000);
});

describe('npm start on a port already in use', () => {
  it('says so in one line, exits non-zero and stops the private PostgreSQL and redis-server it started', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-busy-'));
    chmodSync(dataDir, 0o755);
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const { port } = holder.address() as net.AddressInfo;
    try {
      const run = startAll(dataDir, port);
      const code = await run.exited;
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      const lines = run.output().split('\n');
      const errors = lines.filter((line) => /^fechatter:/.test(line) || /"level":(50|60)/.test(line));
      expect(errors).toEqual([`fechatter: cannot listen on 127.0.0.1:${port}: the port is already in use (set PORT)`]);
      expect(run.output()).not.toMatch(/^\s+at /m);
      // It did start them (so stopping them is what this checks), and neither is left running.
      expect(run.output()).toMatch(/started private redis-server/);
      expect(run.output()).toMatch(/started private PostgreSQL/);
      expect(processesUsing(dataDir)).toEqual([]);
      expect(existsSync(path.join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false);
      expect(existsSync(path.join(dataDir, 'redis', 'redis.pid'))).toBe(false);
    } finally {
      holder.close();
    }
  }, 120_000);
});

describe('npm start without redis-server', () => {
  it('explains how to install it or what to set', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'fechatter-noredis-'));
    const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: '0', PATH: path.join(dataDir, 'empty-bin') };
    for (const name of ['DATABASE_URL', 'REDIS_URL']) delete env[name];
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(packageRoot, 'src/main.ts'), 'all'], {
      cwd: packageRoot,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(output).toMatch(/redis-server was not found on PATH and REDIS_URL is not set/);
    expect(output).toMatch(/apt-get install redis-server/);
  }, 60_000);
});
