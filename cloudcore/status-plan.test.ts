import { describe, expect, it } from 'vitest';
import type { Device, MsgTwin, Twin } from '../device-models/index.js';
import { type Change, type PlanInput, planStatus, type View, viewOf } from './status-plan.js';
import { applyTwinUpdates, toTwin } from './status-twins.js';

const NOW = new Date('2026-11-29T12:00:00.000Z');
const ssa = { kind: 'DeviceStatus', plural: 'devicestatuses', subresource: true, deviceCopy: true } as const;
const kubeedge = { kind: 'Device', plural: 'devices', subresource: false, deviceCopy: false } as const;

const msg = (actual: string, reason?: string, expected?: string, timestamp = 1): MsgTwin => ({
  actual: { value: actual, metadata: { timestamp, ...(reason ? { reason } : {}) } },
  ...(expected !== undefined ? { expected: { value: expected, metadata: { timestamp } } } : {}),
  metadata: { type: 'float' },
});
const entry = (name: string, twin: MsgTwin) => toTwin(name, twin) as Twin;

const device = {
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: { name: 'd', namespace: 'default', generation: 3, uid: 'u' },
  spec: { properties: [{ name: 'set', desired: { value: '22' } }] },
} as unknown as Device;

/** What Kubernetes holds after a first write of `temp` 20, `set` 22 and the state online. */
function written(): View {
  const twins = [entry('temp', msg('20')), entry('set', msg('22', undefined, '22'))];
  const first = planStatus({
    mode: ssa,
    view: viewOf({ metadata: { resourceVersion: '1' }, status: { twins } }),
    change: { updates: new Map(), state: 'online', seen: NOW.getTime() },
    device,
    lastSeenIntervalMs: 60_000,
    now: NOW,
  });
  return viewOf({ metadata: { resourceVersion: '2' }, status: { twins, ...first.state } });
}

const plan = (change: Partial<Change>, input: Partial<PlanInput> = {}) =>
  planStatus({
    mode: ssa,
    view: written(),
    change: { updates: new Map(), ...change },
    device,
    copied: { state: 'online', observedGeneration: 3, conditions: written().state.conditions },
    lastSeenIntervalMs: 60_000,
    now: NOW,
    ...input,
  });

describe('planStatus: what one write carries', () => {
  it('writes nothing for the same values (other spellings, later timestamps) and the same state', () => {
    const p = plan({
      updates: new Map([['temp', entry('temp', msg('20.0', undefined, undefined, 99))]]),
      state: 'online',
      seen: NOW.getTime() + 30_000,
    });
    expect([p.twins, p.state, p.copy]).toEqual([undefined, undefined, undefined]);
  });

  it('writes every twin when one changes, and the state only when it changes', () => {
    const p = plan({ updates: new Map([['temp', entry('temp', msg('21'))]]), seen: NOW.getTime() + 1000 });
    expect(p.twins?.map((t) => [t.propertyName, t.reported?.value])).toEqual([
      ['temp', '21'],
      ['set', '22'],
    ]);
    expect(p.state).toBeUndefined();
    expect(p.events).toEqual([]);
  });

  it('refreshes lastSeen (and lastOnlineTime) alone once lastSeenIntervalMs has passed', () => {
    const heard = plan({ state: 'online', lastOnlineTime: 'later', seen: NOW.getTime() + 10_000 });
    expect(heard.state).toBeUndefined();
    expect(heard.lastOnlineTime).toBe('later');
    const due = plan({ state: 'online', seen: NOW.getTime() + 60_000 }, {});
    expect(due.state).toMatchObject({ state: 'online', lastSeen: '2026-11-29T12:01:00.000Z' });
    expect(due.copy).toBeUndefined(); // Device.status has no lastSeen: nothing to copy
  });

  it('a state change writes the state concern, copies it to Device.status, and plans the Event', () => {
    const p = plan({ state: 'offline', seen: NOW.getTime() + 1000 });
    expect(p.state).toMatchObject({ state: 'offline', observedGeneration: 3 });
    expect(p.state?.conditions?.find((c) => c.type === 'Reachable')).toMatchObject({ status: 'False' });
    expect(p.copy).toMatchObject({ state: 'offline', observedGeneration: 3 });
    expect(p.events).toEqual([
      { type: 'Warning', reason: 'DeviceOffline', message: 'the mapper reports the device offline' },
    ]);
    expect(plan({ state: 'ok' }).events).toEqual([]); // online and ok are one class
  });

  it('a newly reported reason plans a DesiredValueRefused Event, and flips TwinSynced', () => {
    const p = plan({ updates: new Map([['set', entry('set', msg('20', 'out of range', '22'))]]) });
    expect(p.events).toEqual([
      {
        type: 'Warning',
        reason: 'DesiredValueRefused',
        message: 'set: the device holds 20 instead of 22: out of range',
      },
    ]);
    expect(p.state?.conditions?.find((c) => c.type === 'TwinSynced')).toMatchObject({
      status: 'False',
      message: 'not in sync: set (out of range)',
    });
  });

  it('on a CRD without the status subresource, observes no generation (every write would bump it)', () => {
    const p = plan({ state: 'offline' }, { mode: kubeedge, copied: undefined });
    expect(p.state?.observedGeneration).toBeUndefined();
    expect(p.state?.conditions?.[0]?.observedGeneration).toBeUndefined();
    expect(p.copy).toBeUndefined();
  });
});

describe('applyTwinUpdates', () => {
  const current = new Map([
    ['a', entry('a', msg('1', undefined, '1'))],
    ['b', entry('b', msg('2'))],
  ]);

  it('deletes, and replaces an entry deleted and reported again (without its old parts)', () => {
    const c = applyTwinUpdates(
      current,
      new Map<string, Twin | null>([
        ['b', null],
        ['a', { reported: undefined, observedDesired: undefined, ...entry('a', msg('5')) }],
        ['gone', null],
      ]),
    );
    expect(c.deleted).toEqual(['b']);
    expect(c.replaced).toEqual(['a']);
    expect([...c.twins.values()]).toEqual([entry('a', msg('5'))]);
  });

  it('keeps observedDesired when only the reported value comes, and reports a new reason once', () => {
    const first = applyTwinUpdates(current, new Map([['a', entry('a', msg('0', 'clamped'))]]));
    expect(first.twins.get('a')?.observedDesired?.value).toBe('1');
    expect(first.refusals).toEqual([{ property: 'a', reason: 'clamped', reported: '0', desired: '1' }]);
    const again = applyTwinUpdates(
      first.twins,
      new Map([['a', entry('a', msg('0', 'clamped', undefined, 7))]]),
    );
    expect([again.changed, again.refusals]).toEqual([false, []]);
  });
});
