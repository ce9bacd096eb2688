// A TCP proxy in front of Redis that forwards everything until a client sends a chunk
// containing a marker (e.g. a Lua script's text), then holds that chunk and everything after it
// from that connection: the sender is left waiting on a command Redis never received, as if it
// had died right before it. Used to kill a process at an exact point of its protocol.
// In front of a Redis Cluster (a redis+cluster:// URL) there is one proxy per node, and the
// replies that name nodes (CLUSTER SLOTS, MOVED/ASK) are rewritten to name the proxies, so the
// client under test never talks to a node directly.
import net from 'node:net';
import { redisTarget } from '../../src/infra/redis.js';

export interface StallProxy {
  /** redis://… address to give the process under test. */
  url: string;
  /** Resolves once a chunk containing `marker` was held back (only the first one is). */
  stallOn(marker: string): Promise<void>;
  close(): Promise<void>;
}

interface Shared {
  marker?: string;
  stalled?: () => void;
}

export async function stallProxy(targetUrl: string): Promise<StallProxy> {
  const shared: Shared = {};
  const seeds = redisTarget(targetUrl).cluster;
  const nodes = seeds ?? [{ host: new URL(targetUrl).hostname, port: Number(new URL(targetUrl).port) }];
  // Loopback test clusters only: every node is one of the seeds (the 3 masters we started).
  const ports = new Map<number, number>();
  const proxies = await Promise.all(nodes.map((n) => proxyTo(n.host, n.port, shared, seeds ? ports : undefined)));
  nodes.forEach((n, i) => ports.set(n.port, proxies[i].port));
  const addresses = proxies.map((p) => `127.0.0.1:${p.port}`);
  return {
    url: seeds ? `redis+cluster://${addresses.join(',')}` : `redis://${addresses[0]}`,
    stallOn(text) {
      shared.marker = text;
      return new Promise((resolve) => (shared.stalled = resolve));
    },
    async close() {
      await Promise.all(proxies.map((p) => p.close()));
    },
  };
}

/** Node-naming replies of a cluster, with node ports swapped for their proxies' (RESP integers and MOVED/ASK). */
function rewritePorts(chunk: Buffer, ports: Map<number, number>, slotsReply: boolean): Buffer {
  let text = chunk.toString('latin1');
  text = text.replace(/^-(MOVED|ASK) (\d+) ([^:\r]+):(\d+)\r\n/gm, (all, kind, slot, host, port) =>
    ports.has(Number(port)) ? `-${kind} ${slot} ${host}:${ports.get(Number(port))}\r\n` : all,
  );
  if (slotsReply) text = text.replace(/\r\n:(\d+)\r\n/g, (all, port) => (ports.has(Number(port)) ? `\r\n:${ports.get(Number(port))}\r\n` : all));
  return Buffer.from(text, 'latin1');
}

async function proxyTo(host: string, targetPort: number, shared: Shared, ports?: Map<number, number>): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, host);
    let holding = false;
    let slotsAsked = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    if (ports) {
      upstream.on('data', (chunk: Buffer) => {
        // ioredis asks for the slots on a connection of its own, so once asked, stay rewriting.
        client.write(rewritePorts(chunk, ports, slotsAsked));
      });
    } else {
      upstream.pipe(client);
    }
    client.on('data', (chunk: Buffer) => {
      if (holding) return;
      if (shared.marker !== undefined && chunk.includes(shared.marker)) {
        holding = true;
        shared.marker = undefined;
        shared.stalled?.();
        return;
      }
      if (ports && /slots/i.test(chunk.toString('latin1'))) slotsAsked = true;
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
