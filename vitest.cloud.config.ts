import { defineConfig } from 'vitest/config';

/**
 * The fleet suite (`npm run test:cloud`): the longest runs against the real kube-apiserver — cloudcore end to end
 * with kubectl, two replicas killed and hung under live edges, the leader Lease, the fleet e2e, the deploy/
 * manifests dry-run and RBAC checks. About three minutes, so not part of `vitest run` (which stays under ten);
 * CI runs it after `npm test`.
 */
export const CLOUD_SUITE = [
  'test/e2e/kubernetes.test.ts',
  'test/e2e/fleet.test.ts',
  'cloudcore/replicas.integration.test.ts',
  'cloudcore/leader.integration.test.ts',
  'test/k8s/deploy.test.ts',
];

export default defineConfig({
  test: {
    include: CLOUD_SUITE,
    exclude: ['**/node_modules/**', 'dist/**'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
