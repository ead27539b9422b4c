import { describe, expect, it } from 'vitest';
import { DeviceChanges } from './dashboard-api-changes.js';
import type { DeviceView, TwinView } from './dashboard-api-schemas.js';

const twin = (reported: string | null, desired: string | null = null): TwinView => ({
  type: 'float',
  optional: false,
  desired: desired === null ? null : { value: desired, version: '7' },
  reported: reported === null ? null : { value: reported },
  observedDesired: null,
});

const view = (twins: Record<string, TwinView>, state = 'online', nodeConnected = true): DeviceView => ({
  id: 'default/t1',
  namespace: 'default',
  name: 't1',
  model: 'm',
  protocol: 'modbus',
  state,
  lastOnlineTime: '',
  node: 'node-a',
  nodeConnected,
  twins,
  delta: {},
  properties: {},
});

describe('the events a new view of a device makes', () => {
  it('tells only what changed: the twins that did (null when gone), the state when it did', () => {
    const changes = new DeviceChanges();
    const first = changes.update('default/t1', view({ a: twin('1'), b: twin('2') }), false);
    expect(first.map((e) => e.event)).toEqual(['twin', 'state']);
    expect(changes.update('default/t1', view({ a: twin('1'), b: twin('2') }), true)).toEqual([]);
    expect(
      changes.update('default/t1', view({ a: twin('1'), b: twin('3'), c: twin(null, '5') }), true),
    ).toEqual([
      {
        event: 'twin',
        id: 'default/t1',
        data: { id: 'default/t1', twins: { b: twin('3'), c: twin(null, '5') }, delta: {} },
      },
    ]);
    expect(changes.update('default/t1', view({ a: twin('1'), b: twin('3') }, 'online', false), true)).toEqual(
      [
        { event: 'twin', id: 'default/t1', data: { id: 'default/t1', twins: { c: null }, delta: {} } },
        {
          event: 'state',
          id: 'default/t1',
          data: {
            id: 'default/t1',
            state: 'online',
            lastOnlineTime: '',
            node: 'node-a',
            nodeConnected: false,
          },
        },
      ],
    );
  });

  it('announces a device first seen after the first list, and says when one is removed', () => {
    const changes = new DeviceChanges();
    const added = changes.update('default/t1', view({ a: twin('1') }), true);
    expect(added.map((e) => e.event)).toEqual(['device', 'twin', 'state']);
    expect(changes.update('default/t1', undefined, true)).toEqual([
      { event: 'removed', id: 'default/t1', data: { id: 'default/t1' } },
    ]);
    expect(changes.update('default/t1', undefined, true)).toEqual([]);
  });
});
