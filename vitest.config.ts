import { defineConfig } from 'vitest/config';
import { CLOUD_SUITE } from './vitest.cloud.config.js';

export default defineConfig({
  test: {
    include: ['{sdk,mappers,twin,edgecore,cloudcore,device-models,test}/**/*.test.ts'],
    // test/faults: minutes of SIGKILLs, broker restarts and a full disk: `npm run test:faults`.
    // test/e2e/bundle.test.ts builds and installs two gateway bundles (~2 min) and test/e2e/mapper-new.test.ts packs
    // and installs a scaffolded mapper (~1 min): `npm run test:gateway`. The longest Kubernetes runs (~3 min):
    // `npm run test:cloud`. All run in CI (.ci/run) after `npm test`.
    exclude: [
      '**/node_modules/**',
      'dist/**',
      'test/faults/**',
      'test/e2e/bundle.test.ts',
      'test/e2e/mapper-new.test.ts',
      ...CLOUD_SUITE,
    ],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
