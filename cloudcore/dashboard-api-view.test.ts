import { describe, expect, it } from 'vitest';
import type { Device, DeviceModel } from '../device-models/index.js';
import { type DeviceRecord, deviceSummary, deviceView } from './dashboard-api-view.js';

const model: DeviceModel = {
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'DeviceModel',
  metadata: { name: 'thermostat-model', namespace: 'default' },
  spec: {
    protocol: 'modbus',
    properties: [
      { name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly' },
      { name: 'setpoint', type: 'FLOAT', accessMode: 'ReadWrite', minimum: '5', maximum: '35' },
      { name: 'level', type: 'DOUBLE' },
      { name: 'heater', type: 'BOOLEAN' },
    ],
  },
};

const device = (nodeName: string): Device => ({
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: {
    name: 't1',
    namespace: 'default',
    resourceVersion: '901',
    generation: 42,
  } as Device['metadata'],
  spec: {
    deviceModelRef: { name: 'thermostat-model' },
    nodeName,
    properties: [
      { name: 'temperature' },
      { name: 'setpoint', desired: { value: '24', metadata: { timestamp: '1700000000000' } } },
      { name: 'level', desired: { value: '1.5' } },
      { name: 'heater', desired: { value: 'true' } },
    ],
  },
});

const record = (nodeName = 'node-a', status?: DeviceRecord['status']): DeviceRecord => ({
  device: device(nodeName),
  model,
  ...(status ? { status } : {}),
});

describe('the dashboard view of a device from Kubernetes', () => {
  it('summarises it with the protocol of its model, its node, and state unknown before any report', () => {
    expect(deviceSummary(record(), (node) => node === 'node-a')).toEqual({
      id: 'default/t1',
      namespace: 'default',
      name: 't1',
      model: 'thermostat-model',
      protocol: 'modbus',
      state: 'unknown',
      lastOnlineTime: '',
      node: 'node-a',
      nodeConnected: true,
    });
    const unassigned = deviceSummary(record(''), () => true);
    expect(unassigned).toMatchObject({ node: '', nodeConnected: false });
  });

  it('shows desired from the spec and reported from the status, typed by the model, with the delta', () => {
    const view = deviceView(
      record('node-a', {
        state: 'online',
        lastOnlineTime: '2026-01-01T00:00:00Z',
        twins: [
          {
            propertyName: 'temperature',
            reported: { value: '20.5', metadata: { timestamp: '1700000000123' } },
          },
          { propertyName: 'setpoint', reported: { value: '24.0' }, observedDesired: { value: '24' } },
          { propertyName: 'heater', reported: { value: '0' } },
          { propertyName: 'extra', reported: { value: 'x', metadata: { type: 'int' } } },
        ],
      }),
      () => false,
    );
    expect(view).toMatchObject({
      state: 'online',
      lastOnlineTime: '2026-01-01T00:00:00Z',
      nodeConnected: false,
    });
    expect(view.twins).toEqual({
      temperature: {
        type: 'float',
        optional: false,
        desired: null,
        reported: { value: '20.5', timestamp: 1700000000123 },
        observedDesired: null,
      },
      setpoint: {
        type: 'float',
        optional: false,
        desired: { value: '24', timestamp: 1700000000000, version: '42' },
        reported: { value: '24.0' },
        observedDesired: { value: '24' },
      },
      level: {
        type: 'float',
        modelType: 'DOUBLE',
        optional: false,
        desired: { value: '1.5', version: '42' },
        reported: null,
        observedDesired: null,
      },
      heater: {
        type: 'boolean',
        optional: false,
        desired: { value: 'true', version: '42' },
        reported: { value: '0' },
        observedDesired: null,
      },
      // Only in the status: typed as the edge reported it.
      extra: { type: 'int', optional: false, desired: null, reported: { value: 'x' }, observedDesired: null },
    });
    // "24" and "24.0" are the same FLOAT; "true" and "0" are not the same BOOLEAN; level has no report.
    expect(view.delta).toEqual({ heater: 'true', level: '1.5' });
  });

  it('types a twin whose model is unknown as a string', () => {
    const { model: _, ...withoutModel } = record();
    expect(deviceView(withoutModel, () => false).twins.setpoint?.type).toBe('string');
  });
});
