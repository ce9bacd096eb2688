// A local Redis Cluster on free loopback ports, built from the system's redis-server and
// redis-cli. For `TEST_REDIS_CLUSTER=1` runs: three masters, no replicas, throwaway (no
// persistence). For the failover test (test/e2e/cluster-failover.test.ts): replicas, an AOF
// fsynced on every write, a short node timeout, and the means to SIGKILL and restart a node.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedService } from '../../src/infra/embedded.js';
import { clusterUrl } from '../../src/infra/redis.js';

const run = promisify(execFile);

export interface ClusterOptions {
  masters?: number;
  /** Replicas per master (redis-cli assigns them). Default 0. */
  replicas?: number;
  /** `appendonly yes` with `appendfsync always`: a write is on the node's disk before its reply. */
  durable?: boolean;
  /** cluster-node-timeout: how long a silent master takes to be failed over. Redis's default 15000. */
  nodeTimeoutMs?: number;
}

export interface ClusterNode {
  /** `127.0.0.1:port`, as CLUSTER NODES names it. */
  address: string;
  url: string;
  /** The redis-server's pid (changes when restarted). */
  pid: number;
}

export interface LocalCluster extends EmbeddedService {
  /** Each master's `redis://127.0.0.1:port` when the cluster was created. */
  nodeUrls: string[];
  /** Every node, masters and replicas. */
  nodes: ClusterNode[];
  /** The live master serving `slot` now, and its replicas, as a live node sees it. */
  shardOf(slot: number): Promise<{ master: ClusterNode; replicas: ClusterNode[] }>;
  /** SIGKILL: no shutdown, no last AOF write, sockets closed by the kernel. */
  kill(node: ClusterNode): void;
  /** Starts a killed node again on its port and data folder (it rejoins, as a replica if it was failed over). */
  restart(node: ClusterNode): Promise<void>;
  /** Resolves once every live node says cluster_state:ok and every master has its replicas in sync. */
  healthy(timeoutMs?: number): Promise<void>;
}

export async function startRedisCluster(dataDir: string, options: ClusterOptions = {}): Promise<LocalCluster> {
  const { masters = 3, replicas = 0, durable = false, nodeTimeoutMs } = options;
  const services = new Map<string, EmbeddedService>();
  const nodes: ClusterNode[] = [];
  const stop = async () => {
    await Promise.all([...services.values()].map((s) => s.stop()));
  };
  const dirOf = (i: number) => path.join(dataDir, `node-${i}`);
  const nodeOf = (address: string) => {
    const node = nodes.find((n) => n.address === address);
    if (!node) throw new Error(`no node at ${address}`);
    return node;
  };

  /** Starts (or restarts) node `i`; the settings not on redis-server's command line are set live. */
  async function boot(i: number, port?: number): Promise<ClusterNode> {
    const service = await startEmbeddedRedis({ dataDir: dirOf(i), persistent: durable, cluster: true, port });
    const url = service.url;
    const address = new URL(url).host;
    services.set(address, service);
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      if (durable) await client.config('SET', 'appendfsync', 'always');
      if (nodeTimeoutMs) await client.config('SET', 'cluster-node-timeout', String(nodeTimeoutMs));
      const pid = Number(/process_id:(\d+)/.exec(await client.info('server'))![1]);
      return { address, url, pid };
    } finally {
      client.disconnect();
    }
  }

  try {
    const total = masters * (1 + replicas);
    for (let i = 0; i < total; i++) nodes.push(await boot(i));
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => n.address), '--cluster-replicas', String(replicas), '--cluster-yes'], {
      timeout: 30_000,
    });
    const cluster: LocalCluster = {
      url: clusterUrl(nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.address.split(':')[1]) }))),
      nodeUrls: [],
      nodes,
      stop,
      async shardOf(slot) {
        const lines = await liveNodeTable(nodes.filter(isAlive));
        const owner = lines.find((l) => l.flags.includes('master') && !l.flags.includes('fail') && l.slots.some(([a, b]) => a <= slot && slot <= b));
        if (!owner) throw new Error(`no live master serves slot ${slot}`);
        const shardReplicas = lines.filter((l) => l.masterId === owner.id && !l.flags.includes('fail'));
        return { master: nodeOf(owner.address), replicas: shardReplicas.map((l) => nodeOf(l.address)) };
      },
      kill(node) {
        process.kill(node.pid, 'SIGKILL');
      },
      async restart(node) {
        const i = nodes.indexOf(node);
        const restarted = await boot(i, Number(node.address.split(':')[1]));
        node.pid = restarted.pid;
      },
      healthy: (timeoutMs = 30_000) => waitForClusterOk(nodes.filter(isAlive), replicas, timeoutMs),
    };
    await cluster.healthy();
    cluster.nodeUrls = (await liveNodeTable(nodes)).filter((l) => l.flags.includes('master')).map((l) => nodeOf(l.address).url);
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}

function isAlive(node: ClusterNode): boolean {
  try {
    process.kill(node.pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface NodeLine {
  id: string;
  address: string;
  flags: string[];
  masterId: string;
  slots: Array<[number, number]>;
}

/** CLUSTER NODES as the first node that answers sees it. */
async function liveNodeTable(nodes: ClusterNode[]): Promise<NodeLine[]> {
  for (const node of nodes) {
    const client = new Redis(node.url, { maxRetriesPerRequest: 1, connectTimeout: 1000, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      const text = String(await client.cluster('NODES'));
      return text
        .trim()
        .split('\n')
        .map((line) => {
          const [id, addr, flags, masterId, , , , , ...slots] = line.split(' ');
          return {
            id,
            address: addr.split('@')[0],
            flags: flags.split(','),
            masterId,
            slots: slots
              .filter((s) => !s.startsWith('['))
              .map((s) => {
                const [a, b = a] = s.split('-').map(Number);
                return [a, b] as [number, number];
              }),
          };
        });
    } catch {
      // try the next node
    } finally {
      client.disconnect();
    }
  }
  throw new Error('no cluster node answers');
}

/**
 * Every node must agree the cluster is up (slots assigned and gossip settled), and each master
 * must have `replicas` replicas streaming from it, before tests use it.
 */
async function waitForClusterOk(nodes: ClusterNode[], replicas: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const clients = nodes.map((n) => new Redis(n.url, { lazyConnect: false, maxRetriesPerRequest: 1 }));
  for (const c of clients) c.on('error', () => {});
  try {
    for (;;) {
      const infos = await Promise.all(clients.map((c) => c.cluster('INFO').catch(() => '')));
      const replication = await Promise.all(clients.map((c) => c.info('replication').catch(() => '')));
      const clusterOk = infos.every((info) => /cluster_state:ok/.test(String(info)));
      // A master lists its replicas as slaveN:...,state=online; a replica says master_link_status:up.
      const inSync = replication.every((r) =>
        /role:master/.test(r) ? (r.match(/state=online/g)?.length ?? 0) >= replicas : /master_link_status:up/.test(r) && !/master_sync_in_progress:1/.test(r),
      );
      if (clusterOk && inSync) return;
      if (Date.now() > deadline) throw new Error(`Redis Cluster did not become healthy:\n${infos.join('\n')}\n${replication.join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    for (const c of clients) c.disconnect();
  }
}
