import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{sdk,mappers,twin,edgecore,cloudcore,device-models,test}/**/*.test.ts'],
    // test/faults: minutes of SIGKILLs, broker restarts and a full disk: `npm run test:faults`.
    // test/e2e/bundle.test.ts builds and installs two gateway bundles (~2 min): `npm run test:gateway`.
    // Both run in CI (.ci/run) after `npm test`.
    exclude: ['**/node_modules/**', 'dist/**', 'test/faults/**', 'test/e2e/bundle.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
