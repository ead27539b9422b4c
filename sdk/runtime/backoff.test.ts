import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  it('grows exponentially from the initial delay without jitter', () => {
    const delays = [0, 1, 2, 3].map((n) => backoffDelay(n, { initialMs: 100, jitter: 0 }));
    expect(delays).toEqual([100, 200, 400, 800]);
  });

  it('is capped', () => {
    expect(backoffDelay(50, { initialMs: 100, maxMs: 5000, jitter: 0 })).toBe(5000);
  });

  it('stays within ±jitter of the base and never exceeds the cap', () => {
    fc.assert(
      fc.property(fc.nat(40), fc.double({ min: 0, max: 0.999, noNaN: true }), (attempt, r) => {
        const base = Math.min(30_000, 500 * 2 ** attempt);
        const d = backoffDelay(attempt, {}, () => r);
        expect(d).toBeGreaterThanOrEqual(Math.floor(base * 0.8));
        expect(d).toBeLessThanOrEqual(30_000);
        expect(d).toBeLessThanOrEqual(Math.ceil(base * 1.2));
      }),
    );
  });
});
