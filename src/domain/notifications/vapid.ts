// The VAPID key pair Web Push messages are signed with (the browser subscribes with its public
// half). Configured keys win; outside production a pair is generated once into
// DATA_DIR/vapid.json so subscriptions survive restarts; in production without keys, push is off.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import webpush from 'web-push';
import type { Config } from '../../config.js';

export interface Vapid {
  publicKey: string;
  privateKey: string;
  subject: string;
}

type VapidConfig = Pick<Config, 'NODE_ENV' | 'DATA_DIR' | 'VAPID_PUBLIC_KEY' | 'VAPID_PRIVATE_KEY' | 'VAPID_SUBJECT'>;
const resolved = new WeakMap<object, Vapid | null>();

function fromFile(file: string): Omit<Vapid, 'subject'> {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { publicKey?: unknown; privateKey?: unknown };
  if (typeof parsed.publicKey !== 'string' || typeof parsed.privateKey !== 'string') throw new Error(`${file}: not a VAPID key pair`);
  return { publicKey: parsed.publicKey, privateKey: parsed.privateKey };
}

/** The deployment's VAPID keys, or null when push is off. Remembered per config object. */
export function vapidKeys(config: VapidConfig): Vapid | null {
  if (resolved.has(config)) return resolved.get(config)!;
  let keys: Vapid | null = null;
  if (config.VAPID_PUBLIC_KEY && config.VAPID_PRIVATE_KEY) {
    keys = { publicKey: config.VAPID_PUBLIC_KEY, privateKey: config.VAPID_PRIVATE_KEY, subject: config.VAPID_SUBJECT };
  } else if (config.NODE_ENV !== 'production') {
    const file = path.resolve(config.DATA_DIR, 'vapid.json');
    try {
      keys = { ...fromFile(file), subject: config.VAPID_SUBJECT };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(path.dirname(file), { recursive: true });
      try {
        // 'wx': when two processes start at once, one writes and both read the winner's pair.
        writeFileSync(file, JSON.stringify(webpush.generateVAPIDKeys()), { mode: 0o600, flag: 'wx' });
      } catch (writeErr) {
        if ((writeErr as NodeJS.ErrnoException).code !== 'EEXIST') throw writeErr;
      }
      keys = { ...fromFile(file), subject: config.VAPID_SUBJECT };
    }
  }
  resolved.set(config, keys);
  return keys;
}
