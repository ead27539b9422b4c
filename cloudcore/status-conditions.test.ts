import { describe, expect, it } from 'vitest';
import type { Device, Twin } from '../device-models/index.js';
import { type ConditionInput, desiredOf, deviceConditions, sameConditions } from './status-conditions.js';

const NOW = '2026-11-29T12:00:00.000Z';
const EARLIER = '2026-11-29T11:00:00.000Z';

const twin = (name: string, reported?: string, desired?: string, reason?: string): Twin => ({
  propertyName: name,
  ...(reported !== undefined
    ? { reported: { value: reported, metadata: { type: 'float', ...(reason ? { reason } : {}) } } }
    : {}),
  ...(desired !== undefined ? { observedDesired: { value: desired, metadata: { type: 'float' } } } : {}),
});

const judge = (input: Partial<ConditionInput>) =>
  Object.fromEntries(
    deviceConditions({ twins: [], desired: new Map(), now: NOW, ...input }).map((c) => [c.type, c]),
  );

describe('deviceConditions', () => {
  it.each([
    ['online', 'True', 'DeviceOnline', 'True'],
    ['ok', 'True', 'DeviceOnline', 'True'],
    ['offline', 'False', 'DeviceOffline', 'True'],
    ['disconnected', 'False', 'DeviceDisconnected', 'True'],
    ['unhealthy', 'False', 'DeviceUnhealthy', 'True'],
    ['unknown', 'Unknown', 'StateUnknown', 'Unknown'],
    [undefined, 'Unknown', 'NoStateReported', 'Unknown'],
  ])('state %s: Reachable %s (%s), MapperReady %s', (state, reachable, reason, mapper) => {
    const c = judge({ state });
    expect(c.Reachable).toMatchObject({ status: reachable, reason });
    expect(c.MapperReady?.status).toBe(mapper);
  });

  it('TwinSynced compares each desired value with the reported one by type, and names those out of sync', () => {
    const desired = new Map([
      ['a', '24'],
      ['b', '1'],
      ['c', '5'],
    ]);
    const synced = judge({ desired, twins: [twin('a', '24.0'), twin('b', '1'), twin('c', '5e0')] });
    expect(synced.TwinSynced).toMatchObject({
      status: 'True',
      reason: 'Synced',
      message: 'every desired value is reported',
    });
    const out = judge({ desired, twins: [twin('a', '23'), twin('b', '1')] });
    expect(out.TwinSynced).toMatchObject({
      status: 'False',
      reason: 'DesiredNotReported',
      message: 'not in sync: a, c (not reported)',
    });
  });

  it("TwinSynced uses the edge's desired value where the Device has none, and says why when the edge does", () => {
    const c = judge({ twins: [twin('set', '25', '99', 'out of range'), twin('temp', '20')] });
    expect(c.TwinSynced).toMatchObject({
      status: 'False',
      reason: 'DesiredValueRefused',
      message: 'not in sync: set (out of range)',
    });
    expect(judge({ twins: [twin('temp', '20')] }).TwinSynced).toMatchObject({
      status: 'True',
      message: 'no desired values',
    });
  });

  it("is not in sync while the edge's desired value differs from the Device's, even if the device holds it", () => {
    const c = judge({ desired: new Map([['set', '25']]), twins: [twin('set', '25', '30')] });
    expect(c.TwinSynced).toMatchObject({ status: 'False', message: 'not in sync: set' });
  });

  it('keeps a long list short, counting the names it leaves out', () => {
    const desired = new Map(Array.from({ length: 200 }, (_, i) => [`property-${i}`, '1'] as const));
    const message = judge({ desired }).TwinSynced?.message ?? '';
    expect(message.length).toBeLessThanOrEqual(1024);
    expect(message).toMatch(/^not in sync: property-0 \(not reported\), .* and \d+ more$/);
  });

  it('moves lastTransitionTime only when status changes, and stamps observedGeneration', () => {
    const previous = deviceConditions({ state: 'online', twins: [], desired: new Map(), now: EARLIER });
    const next = judge({ state: 'ok', previous, generation: 4 });
    expect(next.Reachable).toMatchObject({
      lastTransitionTime: EARLIER,
      observedGeneration: 4,
      message: 'the device is ok',
    });
    expect(judge({ state: 'offline', previous }).Reachable?.lastTransitionTime).toBe(NOW);
    expect(judge({ state: 'online' }).Reachable?.observedGeneration).toBeUndefined();
  });
});

describe('sameConditions', () => {
  it('ignores lastTransitionTime, but not status, reason, message or observedGeneration', () => {
    const a = deviceConditions({ state: 'online', twins: [], desired: new Map(), now: EARLIER });
    expect(
      sameConditions(a, deviceConditions({ state: 'online', twins: [], desired: new Map(), now: NOW })),
    ).toBe(true);
    expect(
      sameConditions(a, deviceConditions({ state: 'ok', twins: [], desired: new Map(), now: NOW })),
    ).toBe(false);
    expect(
      sameConditions(
        a,
        deviceConditions({ state: 'online', twins: [], desired: new Map(), now: NOW, generation: 2 }),
      ),
    ).toBe(false);
    expect(sameConditions(a, undefined)).toBe(false);
  });
});

describe('desiredOf', () => {
  it("takes the Device's desired values, skipping properties without one", () => {
    const device = {
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'Device',
      metadata: { name: 'd' },
      spec: { properties: [{ name: 'a', desired: { value: '1' } }, { name: 'b' }] },
    } as Device;
    expect([...desiredOf(device)]).toEqual([['a', '1']]);
    expect(desiredOf(undefined).size).toBe(0);
  });
});
