// A local Redis Cluster for `TEST_REDIS_CLUSTER=1` runs: three masters, no replicas, on free
// loopback ports, built from the system's redis-server and redis-cli. Throwaway (no persistence).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedService } from '../../src/infra/embedded.js';
import { clusterUrl } from '../../src/infra/redis.js';

const run = promisify(execFile);

export interface LocalCluster extends EmbeddedService {
  /** Each master's `redis://127.0.0.1:port`. */
  nodeUrls: string[];
}

export async function startRedisCluster(dataDir: string, masters = 3): Promise<LocalCluster> {
  const nodes: EmbeddedService[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) nodes.push(await startEmbeddedRedis({ dataDir: path.join(dataDir, `node-${i}`), persistent: false, cluster: true }));
    const addresses = nodes.map((n) => new URL(n.url).host);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    await waitForClusterOk(
      nodes.map((n) => n.url),
      30_000,
    );
    return {
      url: clusterUrl(addresses.map((a) => ({ host: a.split(':')[0], port: Number(a.split(':')[1]) }))),
      nodeUrls: nodes.map((n) => n.url),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Every node must agree the cluster is up (slots assigned and gossip settled) before tests use it. */
async function waitForClusterOk(urls: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const clients = urls.map((url) => new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 }));
  try {
    for (;;) {
      const infos = await Promise.all(clients.map((c) => c.cluster('INFO').catch(() => '')));
      if (infos.every((info) => /cluster_state:ok/.test(String(info)))) return;
      if (Date.now() > deadline) throw new Error(`Redis Cluster did not reach cluster_state:ok:\n${infos.join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    for (const c of clients) c.disconnect();
  }
}
