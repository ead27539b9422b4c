import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MsgTwin, MsgTwinMap } from '../device-models/index.js';
import { reportInPlace } from './report-in-place.js';
import { applyUpdate, computeDelta } from './rules.js';
import type { DeviceTwins } from './types.js';

const NOW = 1_700_000_000_000;

/** Frozen all the way down: reportInPlace may write only into twins it made itself. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

describe('reportInPlace', () => {
  const TYPES = { i: 'int', b: 'boolean', s: 'string' } as const;
  type Key = keyof typeof TYPES;
  // Some values no twin of the type takes (refused by applyUpdate, so left to it by reportInPlace).
  const VALUES = {
    i: fc.constantFrom('1', '2', '-7', '1.5', 'x'),
    b: fc.constantFrom('true', 'false', '1'),
    s: fc.constantFrom('', 'a', 'b'),
  };
  const reason = fc.option(fc.constantFrom('held', 'r'.repeat(300)), { nil: undefined });
  const actual = (k: Key) =>
    fc
      .tuple(VALUES[k], reason)
      .map(([value, why]) => (why === undefined ? { value } : { value, metadata: { reason: why } }));
  /** Reports (mostly), desired values (some cleared with ""), `optional: false`, deletes and revivals. */
  const change = fc.constantFrom<Key>('i', 'b', 's').chain((k) =>
    fc.tuple(
      fc.constant(k),
      fc.oneof(
        { weight: 1, arbitrary: fc.constant(null) },
        { weight: 2, arbitrary: fc.record({ expected: VALUES[k].map((value) => ({ value })) }) },
        { weight: 1, arbitrary: fc.record({ actual: actual(k), optional: fc.constant(false) }) },
        {
          weight: 12,
          arbitrary: fc.record(
            { actual: actual(k), metadata: fc.constant({ type: TYPES[k] }) },
            { requiredKeys: ['actual'] },
          ),
        },
      ),
    ),
  );
  const steps = fc.array(fc.uniqueArray(change, { selector: ([k]) => k, minLength: 1, maxLength: 3 }), {
    maxLength: 40,
  });

  it('leaves the twins as applyUpdate would make them, writing only into twins it made (property)', () => {
    let inPlace = 0;
    fc.assert(
      fc.property(steps, (sequence) => {
        let reference: DeviceTwins = {};
        const twins: DeviceTwins = {};
        const owned = new WeakSet<MsgTwin>();
        sequence.forEach((entries, step) => {
          const update: MsgTwinMap = deepFreeze(Object.fromEntries(entries));
          const now = NOW + step;
          const expected = applyUpdate(reference, update, { source: 'edge', now });
          const changed = reportInPlace(twins, update, now, owned);
          if (changed) {
            inPlace++;
            expect(computeDelta(twins)).toEqual(computeDelta(reference));
            expect(expected.ok && Object.keys(expected.result)).toEqual(Object.keys(changed));
          } else {
            const applied = applyUpdate(twins, update, { source: 'edge', now });
            if (applied.ok) {
              for (const key of Object.keys(twins)) delete twins[key];
              Object.assign(twins, applied.twins);
              // What applyUpdate made is never written again; the twins reportInPlace made it keeps.
              for (const twin of Object.values(twins)) if (!owned.has(twin)) deepFreeze(twin);
            }
          }
          if (expected.ok) reference = expected.twins;
          // Same twins, same key order (what is stored and published), same versions and timestamps.
          expect(JSON.stringify(twins)).toBe(JSON.stringify(reference));
        });
      }),
      { numRuns: 400 },
    );
    // Hundreds of steps were applied in place, not all left to applyUpdate (a desired value set on an int or
    // boolean twin stays, so its reports fall through from then on).
    expect(inPlace).toBeGreaterThan(200);
  });

  it('refuses anything but a plain report of live twins without an expected value, changing nothing', () => {
    const base = (fields: MsgTwin): DeviceTwins =>
      deepFreeze({ t: { optional: true, metadata: { type: 'int' }, ...fields } });
    const owned = new WeakSet<MsgTwin>();
    const report = { t: { actual: { value: '1' } } };
    // A report that would take a twin to its desired value, or away from it, changes the delta.
    expect(reportInPlace(base({ expected: { value: '1' } }), report, NOW, owned)).toBeUndefined();
    const reached = { actual: { value: '2', metadata: { timestamp: 0 } } };
    expect(reportInPlace(base({ expected: { value: '2' }, ...reached }), report, NOW, owned)).toBeUndefined();
    expect(reportInPlace(base({ metadata: { type: 'deleted' } }), report, NOW, owned)).toBeUndefined();
    expect(reportInPlace({}, report, NOW, owned)).toBeUndefined();
    expect(reportInPlace(base({}), {}, NOW, owned)).toBeUndefined();
    expect(reportInPlace(base({}), { t: null }, NOW, owned)).toBeUndefined();
    expect(reportInPlace(base({}), { t: { expected: { value: '1' } } }, NOW, owned)).toBeUndefined();
    expect(
      reportInPlace(base({}), { t: { actual: { value: '1' }, optional: false } }, NOW, owned),
    ).toBeUndefined();
    expect(reportInPlace(base({}), { t: { actual: { value: '1.5' } } }, NOW, owned)).toBeUndefined();
    expect(
      reportInPlace(
        base({}),
        { t: { actual: { value: '1' }, if_expected_version: { cloud: 0, edge: 0 } } },
        NOW,
        owned,
      ),
    ).toBeUndefined();
    // A twin of the report not yet there: nothing of it is applied, not even the twins that are.
    expect(
      reportInPlace(base({}), { t: { actual: { value: '1' } }, u: { actual: { value: '2' } } }, NOW, owned),
    ).toBeUndefined();
    const twins = { t: { optional: true, metadata: { type: 'int' }, expected: { value: '2' } } };
    const changed = reportInPlace(twins, report, NOW, owned);
    expect(changed).toEqual({ t: twins.t });
    expect(twins.t).toMatchObject({ actual: { value: '1' }, actual_version: { cloud: 0, edge: 1 } });
  });
});
