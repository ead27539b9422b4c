import { describe, expect, it } from 'vitest';
import type { MsgTwin } from '../device-models/index.js';
import { deltaIntents, sameIntents } from './delta-intents.js';
import { computeDelta } from './rules.js';
import type { DeviceTwins } from './types.js';

const twin = (expected: string, edge: number, actual?: string): MsgTwin => ({
  metadata: { type: 'float' },
  expected: { value: expected },
  expected_version: { cloud: 0, edge },
  ...(actual !== undefined ? { actual: { value: actual } } : {}),
});
const intents = (twins: DeviceTwins) => deltaIntents(twins, computeDelta(twins));

describe('delta intents: whether a delta asks for anything the last one did not', () => {
  const before: DeviceTwins = {
    setpoint: twin('23.55', 2, '23.5'),
    temperature: { actual: { value: '20' } },
  };

  it.each<[string, DeviceTwins, boolean]>([
    ['another report of what the device holds', { ...before, setpoint: twin('23.55', 2, '23.4') }, true],
    [
      'a report of a property outside the delta',
      { ...before, temperature: { actual: { value: '21' } } },
      true,
    ],
    ['the same value under a new desired version', { ...before, setpoint: twin('23.55', 3, '23.5') }, false],
    ['a new desired value', { ...before, setpoint: twin('24', 3, '23.5') }, false],
    ['the property leaving the delta', { ...before, setpoint: twin('23.55', 2, '23.550') }, false],
    ['another property joining it', { ...before, heater: twin('1', 1) }, false],
    [
      'a cloud version instead of an edge one',
      { ...before, setpoint: { ...twin('23.55', 1, '23.5'), expected_version: { cloud: 1, edge: 1 } } },
      false,
    ],
  ])('%s: same intents → %s', (_, after, same) => {
    expect(sameIntents(intents(before), intents(after))).toBe(same);
    expect(sameIntents(intents(after), intents(before))).toBe(same);
  });

  it('counts a twin without expected_version as version {0, 0}', () => {
    const bare: DeviceTwins = { p: { expected: { value: '1' } } };
    expect(
      sameIntents(intents(bare), intents({ p: { ...bare.p, expected_version: { cloud: 0, edge: 0 } } })),
    ).toBe(true);
  });
});
