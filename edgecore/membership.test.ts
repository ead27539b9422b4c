import { describe, expect, it } from 'vitest';
import type { ResolvedDevice } from '../device-models/index.js';
import type { DeviceRow } from '../twin/store.js';
import { memberEntry, membershipDevice, membershipUpdates } from './membership.js';

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

/** Just what membership entries read of a device: its id, name and labels. */
const device = (labels?: Record<string, string>) =>
  ({
    id: 'default/meter-1',
    name: 'meter-1',
    device: { metadata: { name: 'meter-1', ...(labels ? { labels } : {}) } },
    model: { metadata: { name: 'energy-meter-model' } },
  }) as unknown as ResolvedDevice;

const row = (fields: Partial<DeviceRow>): DeviceRow => ({
  id: 'default/meter-1',
  namespace: 'default',
  name: 'meter-1',
  description: '',
  state: '',
  lastOnline: '',
  attributes: {},
  ...fields,
});

describe('membership entries, as KubeEdge lists devices', () => {
  it('describes a device with its label `description` (cloudcore’s createDevice), never its model’s name', () => {
    expect(memberEntry(device({ description: 'the meter by the door' }))).toEqual({
      id: 'default/meter-1',
      name: 'meter-1',
      description: 'the meter by the door',
    });
    expect(memberEntry(device({ site: 'lab' }))).toEqual({ id: 'default/meter-1', name: 'meter-1' });
  });

  it('lists id, name, description, state, last_online and KubeEdge-shaped attributes, each only when set, and no twins', () => {
    expect(membershipDevice(device(), undefined)).toEqual({ id: 'default/meter-1', name: 'meter-1' });
    const attributes = {
      vendor: { value: 'acme', optional: true, metadata: { type: 'string' } },
      notes: { free: 'form' }, // stored as JSON: a KubeEdge decoder would fail on it
    };
    expect(
      membershipDevice(
        device(),
        row({ description: 'by the door', state: 'ok', lastOnline: '2026-01-01T00:00:00.000Z', attributes }),
      ),
    ).toEqual({
      id: 'default/meter-1',
      name: 'meter-1',
      description: 'by the door',
      state: 'ok',
      last_online: '2026-01-01T00:00:00.000Z',
      attributes: { vendor: attributes.vendor },
    });
  });
});
