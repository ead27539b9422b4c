import { defineConfig } from 'vitest/config';

/**
 * The gateway suite (`npm run test:gateway`): `edgetwin bundle` built twice, installed into a temporary root,
 * the installed edge run, upgraded and rolled back, and the systemd unit verified; and `edgetwin mapper new`'s
 * scaffold packed and installed outside the repository. About three minutes, so not part of `vitest run`; CI
 * runs it after `npm test`.
 */
export default defineConfig({
  test: {
    include: ['test/e2e/bundle.test.ts', 'test/e2e/mapper-new.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
