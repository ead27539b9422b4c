import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{sdk,mappers,twin,edgecore,cloudcore,device-models,test}/**/*.test.ts'],
    // test/faults: minutes of SIGKILLs, broker restarts and a full disk: `npm run test:faults`.
    exclude: ['**/node_modules/**', 'dist/**', 'test/faults/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
