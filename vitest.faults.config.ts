import { defineConfig } from 'vitest/config';

/**
 * The fault suite (`npm run test:faults`): edgecore as its own process, SIGKILLed in a loop, its external
 * broker restarted, its data directory filled up. Slow (minutes), so not part of `vitest run`.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
