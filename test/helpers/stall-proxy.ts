// A TCP proxy in front of Redis that forwards everything until a client sends a chunk
// containing a marker (e.g. a Lua script's text), then holds that chunk and everything after it
// from that connection: the sender is left waiting on a command Redis never received, as if it
// had died right before it. Used to kill a process at an exact point of its protocol.
import net from 'node:net';

export interface StallProxy {
  /** redis://… address to give the process under test. */
  url: string;
  /** Resolves once a chunk containing `marker` was held back (only the first one is). */
  stallOn(marker: string): Promise<void>;
  close(): Promise<void>;
}

export async function stallProxy(targetUrl: string): Promise<StallProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<net.Socket>();
  let marker: string | undefined;
  let stalled: (() => void) | undefined;

  const server = net.createServer((client) => {
    const upstream = net.connect(Number(target.port), target.hostname);
    let holding = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      if (holding) return;
      if (marker !== undefined && chunk.includes(marker)) {
        holding = true;
        marker = undefined;
        stalled?.();
        return;
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    stallOn(text) {
      marker = text;
      return new Promise((resolve) => (stalled = resolve));
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
