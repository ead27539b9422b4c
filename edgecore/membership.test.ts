import { describe, expect, it } from 'vitest';
import { membershipUpdates } from './membership.js';

const entry = (i: number) => ({
  id: `default/meter-${i}`,
  name: `meter-${i}`,
  description: 'energy-meter-model',
});

describe('membershipUpdates', () => {
  it('sends one message for a small change, and one for an empty change', () => {
    expect(membershipUpdates([entry(1)], [])).toEqual([{ added_devices: [entry(1)], removed_devices: [] }]);
    expect(membershipUpdates([], [])).toEqual([{ added_devices: [], removed_devices: [] }]);
  });

  it('splits a thousand devices into messages under the limit, keeping every device once, in order', () => {
    const added = Array.from({ length: 1000 }, (_, i) => entry(i));
    const removed = Array.from({ length: 300 }, (_, i) => ({ id: `default/old-${i}`, name: `old-${i}` }));
    const messages = membershipUpdates(added, removed);
    expect(messages.length).toBeGreaterThan(1);
    for (const message of messages) expect(JSON.stringify(message).length).toBeLessThan(64 * 1024);
    expect(messages.flatMap((m) => m.added_devices)).toEqual(added);
    expect(messages.flatMap((m) => m.removed_devices)).toEqual(removed);
  });
});
