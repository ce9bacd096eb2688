import { defineConfig } from 'vitest/config';

// `unit`: pure functions, no services. `integration`: real Postgres + Redis (private instances
// started by test/helpers/global-setup.ts unless TEST_DATABASE_URL / TEST_REDIS_URL are set),
// in-process apps and spawned role processes.
export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'], sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
    ],
    pool: 'forks',
    reporters: ['default'],
  },
});
