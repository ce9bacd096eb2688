// The outbound guard: webhooks and push endpoints are URLs users give us, so without it they
// could make the server call its own network (Redis, Postgres, cloud metadata at 169.254.169.254).
// A target must be http(s); its host's addresses (every one DNS returns) must be public, and
// the request goes to the address we checked (the socket's lookup is pinned), so a second DNS
// answer cannot point it elsewhere (DNS rebinding). OUTBOUND_ALLOW_PRIVATE_ADDRESSES=true
// turns the address check off (tests, trusted networks), not the pinning.
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';

export type AddressClass = 'public' | 'unspecified' | 'loopback' | 'private' | 'link-local' | 'unique-local' | 'cgnat' | 'multicast' | 'reserved';

type V4Range = [base: number, bits: number, cls: AddressClass];
const v4 = (a: string) => a.split('.').reduce((n, part) => n * 256 + Number(part), 0);
const V4_RANGES: V4Range[] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'cgnat'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'],
  ['198.51.100.0', 24, 'reserved'],
  ['203.0.113.0', 24, 'reserved'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
].map(([a, bits, cls]) => [v4(a as string), bits as number, cls as AddressClass]);

function classifyV4(address: string): AddressClass {
  const n = v4(address);
  for (const [base, bits, cls] of V4_RANGES) {
    const size = 2 ** (32 - bits);
    if (n >= base && n < base + size) return cls;
  }
  return 'public';
}

/** An IPv6 address as 8 numbers (a trailing dotted IPv4 part becomes the last two). */
function hextets(address: string): number[] {
  let text = address.toLowerCase().replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const n = v4(dotted[1]);
    text = text.slice(0, -dotted[1].length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((h) => parseInt(h, 16));
}

function classifyV6(address: string): AddressClass {
  const h = hextets(address);
  const embeddedV4 = () => `${h[6] >> 8}.${h[6] & 255}.${h[7] >> 8}.${h[7] & 255}`;
  const zeroUpTo = (n: number) => h.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(8)) return 'unspecified';
  if (zeroUpTo(7) && h[7] === 1) return 'loopback';
  // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) reach the IPv4 address inside.
  if (zeroUpTo(5) && h[5] === 0xffff) return classifyV4(embeddedV4());
  if (h[0] === 0x64 && h[1] === 0xff9b && h.slice(2, 6).every((x) => x === 0)) return classifyV4(embeddedV4());
  if (zeroUpTo(6)) return 'reserved'; // IPv4-compatible (deprecated)
  if ((h[0] & 0xffc0) === 0xfe80) return 'link-local';
  if ((h[0] & 0xffc0) === 0xfec0) return 'private'; // site-local (deprecated)
  if ((h[0] & 0xfe00) === 0xfc00) return 'unique-local';
  if ((h[0] & 0xff00) === 0xff00) return 'multicast';
  if (h[0] === 0x2001 && h[1] === 0x0db8) return 'reserved'; // documentation
  if (h[0] === 0x0100 && h.slice(1, 4).every((x) => x === 0)) return 'reserved'; // discard
  return 'public';
}

/** What kind of address this is; anything but 'public' is refused by the guard. */
export function classifyAddress(address: string): AddressClass {
  const family = isIP(address.replace(/%.*$/, ''));
  if (family === 4) return classifyV4(address);
  if (family === 6) return classifyV6(address);
  throw new Error(`not an IP address: ${address}`);
}

export class OutboundRefusedError extends Error {}

export interface OutboundTarget {
  url: URL;
  address: string;
  family: 4 | 6;
}

export interface OutboundOptions {
  allowPrivate: boolean;
  /** Resolver (tests may pass one); defaults to the system's. */
  resolve?: (host: string) => Promise<Array<{ address: string; family: number }>>;
}

/** Checks a user-given URL and resolves the address to connect to. Throws OutboundRefusedError. */
export async function resolveOutbound(raw: string, options: OutboundOptions): Promise<OutboundTarget> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundRefusedError('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new OutboundRefusedError('must be an http or https URL');
  if (url.username || url.password) throw new OutboundRefusedError('must not contain credentials');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: Array<{ address: string; family: number }>;
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await (options.resolve ?? ((h) => dnsLookup(h, { all: true, verbatim: true })))(host);
    } catch {
      throw new OutboundRefusedError(`host ${host} does not resolve`);
    }
    if (addresses.length === 0) throw new OutboundRefusedError(`host ${host} does not resolve`);
  }
  if (!options.allowPrivate) {
    // Every answer must be public: a host with one private address could be steered to it.
    for (const { address } of addresses) {
      const cls = classifyAddress(address);
      if (cls !== 'public') throw new OutboundRefusedError(`host ${host} resolves to a ${cls} address`);
    }
  }
  return { url, address: addresses[0].address, family: addresses[0].family === 6 ? 6 : 4 };
}

/** A socket lookup that answers the checked address whatever DNS says now (no rebinding). */
export function pinnedLookup(target: OutboundTarget): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all)
      (callback as (err: null, addresses: Array<{ address: string; family: number }>) => void)(null, [{ address: target.address, family: target.family }]);
    else callback(null, target.address, target.family);
  };
}

export interface OutboundResponse {
  status: number;
  body: string;
}

/**
 * One request to a checked target, connecting to `target.address` whatever DNS says now (TLS
 * still verifies the certificate for the URL's host name). Resolves with any status; rejects
 * on network errors and after `timeoutMs`. The response body is read up to 64 KiB.
 */
export function outboundRequest(
  target: OutboundTarget,
  request: { method: string; headers: Record<string, string>; body?: string | Buffer; timeoutMs: number },
): Promise<OutboundResponse> {
  const transport = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(
      target.url,
      { method: request.method, headers: request.headers, lookup: pinnedLookup(target), timeout: request.timeoutMs, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if (size < 65536) chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8').slice(0, 65536) }));
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${request.timeoutMs} ms`)), request.timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () => req.destroy(new Error(`timed out after ${request.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(request.body);
  });
}
