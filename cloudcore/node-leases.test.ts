import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../sdk/logger.js';
import { LeaderElection } from './leader.js';
import { nodeLeaseName } from './node-leases.js';

describe('nodeLeaseName', () => {
  it('prefixes the node name', () => {
    expect(nodeLeaseName('gateway-a')).toBe('edgetwin-node-gateway-a');
  });

  it('keeps a name within the 253 characters of a Lease name, distinct per node', () => {
    const long = (last: string) => `${'a'.repeat(198)}.-${'b'.repeat(50)}${last}`;
    const [one, two] = [nodeLeaseName(long('1')), nodeLeaseName(long('2'))];
    expect(one.length).toBeLessThanOrEqual(253);
    expect(one).toMatch(/^edgetwin-node-a{198}-[0-9a-f]{12}$/);
    expect(one).not.toBe(two);
  });
});

describe('LeaderElection timings', () => {
  const base = { kubeConfig: new KubeConfig(), namespace: 'default', identity: 'a', log: silentLogger };

  it.each([
    [{ leaseDurationSeconds: 0 }, /leaseDurationSeconds 0: must be a whole number/],
    [{ leaseDurationSeconds: 1.5 }, /leaseDurationSeconds 1.5/],
    [{ leaseDurationSeconds: 10, renewDeadlineMs: 10_000 }, /renewDeadlineMs 10000: must be under the lease/],
    [
      { renewDeadlineMs: 1_000, retryPeriodMs: 1_000 },
      /retryPeriodMs 1000: must be > 0 and under renewDeadlineMs/,
    ],
  ])('refuses %j', (timings, message) => {
    expect(() => new LeaderElection({ ...base, ...timings })).toThrow(message);
  });
});
