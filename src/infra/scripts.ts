// The Lua scripts, as named files in src/infra/lua (BullMQ's habit): `<name>-<number of keys>.lua`,
// or `<name>.lua` where the caller passes a varying number of keys; each starts with a comment
// naming its KEYS and ARGV. They are read once, at load, and run by SHA (EVALSHA), falling back
// to EVAL the first time a Redis server has not seen one (which also caches it there).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from './redis.js';

export const SCRIPT_NAMES = ['announceCreated', 'markWrite', 'presenceAcquire', 'presenceRelease', 'publishChanges', 'publishEvents'] as const;
export type ScriptName = (typeof SCRIPT_NAMES)[number];

export interface Script {
  name: ScriptName;
  /** Fixed key count from the file name; undefined: the caller's keys, however many. */
  numberOfKeys: number | undefined;
  lua: string;
  sha: string;
}

const DIR = new URL('./lua/', import.meta.url);

function load(): Record<ScriptName, Script> {
  const scripts = {} as Record<ScriptName, Script>;
  for (const file of readdirSync(DIR)) {
    const match = /^([A-Za-z]+)(?:-(\d+))?\.lua$/.exec(file);
    if (!match) continue;
    const name = match[1] as ScriptName;
    if (!SCRIPT_NAMES.includes(name)) throw new Error(`src/infra/lua/${file}: not in SCRIPT_NAMES`);
    const lua = readFileSync(new URL(file, DIR), 'utf8');
    scripts[name] = { name, numberOfKeys: match[2] === undefined ? undefined : Number(match[2]), lua, sha: createHash('sha1').update(lua).digest('hex') };
  }
  for (const name of SCRIPT_NAMES) if (!scripts[name]) throw new Error(`src/infra/lua: no script named ${name}`);
  return scripts;
}

export const SCRIPTS = load();

/** Runs a script by SHA; the first time a server lacks it, by its text. */
export async function runScript(redis: Pick<Redis, 'eval' | 'evalsha'>, name: ScriptName, keys: string[], args: Array<string | number>): Promise<unknown> {
  const script = SCRIPTS[name];
  if (script.numberOfKeys !== undefined && keys.length !== script.numberOfKeys) {
    throw new Error(`script ${name} takes ${script.numberOfKeys} keys, got ${keys.length}`);
  }
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return redis.eval(script.lua, keys.length, ...keys, ...args);
  }
}
