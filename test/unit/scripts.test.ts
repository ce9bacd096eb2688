// The Lua scripts are named files with a header naming their KEYS and ARGV (src/infra/scripts.ts).
import { describe, expect, it } from 'vitest';
import { SCRIPT_NAMES, SCRIPTS } from '../../src/infra/scripts.js';

describe('Lua scripts', () => {
  it('are all loaded, each with a header that names every key and argument it uses', () => {
    for (const name of SCRIPT_NAMES) {
      const { lua, numberOfKeys } = SCRIPTS[name];
      const header = /^--\[\[([\s\S]*?)\]\]/.exec(lua)?.[1];
      expect(header, name).toBeDefined();
      const body = lua.slice(lua.indexOf(']]') + 2);
      // Every KEYS[n] and ARGV[n] the body reads by number is described in the header.
      for (const [, kind, n] of body.matchAll(/\b(KEYS|ARGV)\[(\d+)\]/g)) expect(header, `${name}: ${kind}[${n}]`).toMatch(new RegExp(`${kind}\\[${n}\\]`));
      if (numberOfKeys !== undefined) {
        const described = new Set([...header!.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1])));
        expect(described, name).toEqual(new Set(Array.from({ length: numberOfKeys }, (_, i) => i + 1)));
      }
      expect(header, name).toMatch(/Output:/);
    }
  });
});
