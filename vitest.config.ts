import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{sdk,mappers,twin,edgecore,cloudcore,device-models,test}/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
