import { defineConfig } from 'vitest/config';

/**
 * The long fuzz run (`npm run fuzz`): the properties of test/fuzz with FUZZ_RUNS runs each (default 500) and a
 * fresh seed (FUZZ_SEED replays one; FUZZ_TIME_MS bounds each property). `npm test` runs them briefly.
 */
export default defineConfig({
  test: {
    include: ['test/fuzz/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**'],
    env: { FUZZ_RUNS: process.env.FUZZ_RUNS ?? '500' },
    testTimeout: 60 * 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
