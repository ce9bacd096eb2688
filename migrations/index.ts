// The ordered list of migrations. Imported statically so they run the same from TypeScript
// (tsx, tests) and from the compiled build, without knex scanning a folder at run time.
import * as init from './20261129000001_init.js';

export const migrations = { '20261129000001_init': init } as const;
