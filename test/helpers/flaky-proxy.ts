// A TCP proxy in front of the app that can cut every connection, refuse new ones for a while
// (a network outage), or refuse WebSocket upgrades (a proxy that only speaks plain HTTP), so
// clients meet real network failures.
import net from 'node:net';

export interface FlakyProxy {
  url: string;
  /** Cuts every open connection; with `down`, refuses new ones until up() is called. */
  drop(options?: { down?: boolean }): void;
  up(): void;
  /** Answers WebSocket upgrade requests with 403 (plain HTTP still passes). */
  blockWebSocket(block: boolean): void;
  close(): Promise<void>;
}

export async function flakyProxy(targetUrl: string): Promise<FlakyProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let down = false;
  let noWebSocket = false;

  const server = net.createServer((client) => {
    if (down) return void client.destroy();
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    client.once('data', (first) => {
      if (noWebSocket && /^GET [^\r\n]*\/api\/v1\/ws/.test(first.toString('latin1')) && /upgrade:\s*websocket/i.test(first.toString('latin1'))) {
        client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      const upstream = net.connect(Number(target.port), target.hostname);
      sockets.add(upstream);
      upstream.on('close', () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on('error', () => upstream.destroy());
      client.on('close', () => upstream.destroy());
      upstream.write(first);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    drop(options = {}) {
      if (options.down) down = true;
      for (const s of sockets) s.destroy();
    },
    up() {
      down = false;
    },
    blockWebSocket(block) {
      noWebSocket = block;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
