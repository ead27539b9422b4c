import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import {
  Closed,
  modbusDataType,
  Numeric,
  type Problem,
  parseSource,
  registerProtocol,
  type ValidationResult,
  validateFiles,
  validateObjects,
} from '../internal.js';
import type { ModbusVisitor } from '../protocols/modbus.js';

/**
 * Manifests in the shapes KubeEdge's own examples use (testdata/kubeedge, written for these tests): each is
 * accepted, as KubeEdge accepts it, with warnings only where edgetwin has something to say and the device
 * still runs. test/k8s/kubeedge-fixtures.test.ts applies the same files to a real API server with our CRDs.
 */

const dir = new URL('testdata/kubeedge/', import.meta.url);
const fixture = (name: string) => new URL(name, dir).pathname;

async function validateFixture(name: string): Promise<ValidationResult> {
  return validateFiles([fixture(name)]);
}

const byName = (result: ValidationResult, name: string) => {
  const device = result.devices.find((d) => d.name === name);
  if (!device) throw new Error(`${name} did not resolve: ${JSON.stringify(result.problems, null, 1)}`);
  return device;
};

/** `file:line  path  message` without the directory, for comparing whole lists. */
const brief = (p: Problem) => `${basename(p.file)}:${p.line}  ${p.path}  ${p.message}`;

/** The 1-based line of the first line of `file` that contains `needle`. */
function lineOf(file: string, needle: string, after = ''): number {
  const lines = readFileSync(fixture(file), 'utf8').split('\n');
  const start = after ? lines.findIndex((l) => l.includes(after)) : 0;
  return lines.findIndex((l, i) => i >= start && l.includes(needle)) + 1;
}

/** Errors, then warnings, of a YAML text. */
function validateText(text: string, options = {}) {
  return validateObjects(parseSource('input.yaml', text).objects, options);
}

describe("KubeEdge's manifests: accepted", () => {
  it('every fixture at once: no error, a device for each Device, and only the warnings edgetwin means', async () => {
    const result = await validateFiles([dir.pathname]);
    expect(result.problems).toEqual([]);
    expect(result.counts).toEqual({ DeviceModel: 10, Device: 11, DeviceStatus: 1 });
    expect(result.devices.map((d) => d.id).sort()).toEqual(
      [
        'ahu-01',
        'air-quality-01',
        'air-quality-02',
        'boiler-relay-01',
        'dice-01',
        'door-01',
        'fan-01',
        'gate-camera-01',
        'meter-07',
        'tank-level-01',
        'vibration-01',
      ].map((name) => `default/${name}`),
    );
    const generic = 'modbus-generic-visitor.yaml';
    const unknown = (i: number, key: string, after: string) =>
      `${generic}:${lineOf(generic, `${key}:`, after)}  spec.properties[${i}].visitors.configData.${key}  unknown field: the modbus mapper ignores it`;
    expect(result.warnings.map(brief)).toEqual([
      unknown(0, 'max', 'offset: 10'),
      unknown(0, 'min', 'offset: 10'),
      unknown(1, 'max', 'offset: 20'),
      unknown(1, 'min', 'offset: 20'),
      `model-without-protocol.yaml:${lineOf('model-without-protocol.yaml', '  protocol: {}')}  spec.protocol  names no protocol, and neither does DeviceModel "air-quality-model": no mapper will serve this device (its twin still works over the EventBus)`,
      `visitors-without-protocol-name.yaml:${lineOf('visitors-without-protocol-name.yaml', '- name: label')}  spec.properties[1]  has no type: its values are taken as strings (STRING), as KubeEdge does (set type: one of INT, FLOAT, DOUBLE, STRING, BOOLEAN, BYTES, STREAM)`,
    ]);
    expect(result.warnings.every((w) => w.severity === 'warning')).toBe(true);
  });

  it('a custom protocol: any name, its configData and visitors carried as written', async () => {
    const result = await validateFixture('custom-protocol.yaml');
    expect(result.problems).toEqual([]);
    expect(result.warnings).toEqual([]);
    const dice = byName(result, 'dice-01');
    expect(dice).toMatchObject({
      protocol: 'virtualProtocol',
      nodeName: 'edge-node-1',
      config: { deviceID: 7, serialPort: '/dev/ttyS3', baudRate: 19200, parity: 'none', protocolID: 2 },
    });
    expect(dice.properties.map((p) => [p.name, p.visitor, p.desired])).toEqual([
      ['roll', { dataType: 'int' }, undefined],
      ['bias', { dataType: 'float' }, '0.25'],
    ]);
    expect(dice.properties[0]!.pushMethod).toMatchObject({ mqtt: { topic: 'dice/roll', qos: 1 } });
  });

  it("the mapper-framework's Modbus visitor: dataType float/int infers the encoding, max/min are ignored", async () => {
    const result = await validateFixture('modbus-generic-visitor.yaml');
    expect(result.problems).toEqual([]);
    expect(result.warnings).toHaveLength(4);
    const tank = byName(result, 'tank-level-01');
    expect(tank.config).toEqual({ ip: '192.0.2.10', port: 502, slaveID: 3 });
    const [level, pump] = tank.properties;
    expect(level!.visitor).toMatchObject({
      register: 'InputRegister',
      limit: 2,
      dataType: 'float',
      max: 100,
    });
    expect(modbusDataType(level!.visitor as ModbusVisitor, level!.model.type)).toBe('float32');
    expect(modbusDataType(pump!.visitor as ModbusVisitor, pump!.model.type)).toBe('int16');
  });

  it('configData: null on the protocol and on a visitor is no configData', async () => {
    const result = await validateFixture('config-data-null.yaml');
    expect(result.problems).toEqual([]);
    const camera = byName(result, 'gate-camera-01');
    expect(camera).toMatchObject({ protocol: 'onvif', config: {} });
    expect(camera.properties[0]!.visitor).toEqual({});
    expect(camera.device.spec.protocol).toEqual({ protocolName: 'onvif' });
  });

  it('visitors without protocolName take the device protocol; a model property without type is a STRING', async () => {
    const result = await validateFixture('visitors-without-protocol-name.yaml');
    expect(result.problems).toEqual([]);
    const relay = byName(result, 'boiler-relay-01');
    expect(relay.properties[0]).toMatchObject({
      name: 'burner',
      visitor: { register: 'CoilRegister', offset: 4 },
      model: { type: 'BOOLEAN' },
    });
    expect(result.models[0]!.spec?.properties?.[1]?.type).toBeUndefined();
  });

  it('a model without spec.protocol: the device names it; a device naming none still resolves', async () => {
    const result = await validateFixture('model-without-protocol.yaml');
    expect(result.problems).toEqual([]);
    expect(byName(result, 'air-quality-01')).toMatchObject({
      protocol: 'mqtt',
      config: { clientID: 'aq-01' },
    });
    expect(byName(result, 'air-quality-02')).toMatchObject({ protocol: '', config: {} });
    expect(result.warnings.map((w) => w.path)).toEqual(['spec.protocol']);
  });

  it("protocol: {} takes the model's protocol and protocolConfigData", async () => {
    const result = await validateFixture('empty-protocol.yaml');
    expect(result.problems).toEqual([]);
    expect(result.warnings).toEqual([]);
    const ahu = byName(result, 'ahu-01');
    expect(ahu).toMatchObject({ protocol: 'bacnet', config: { deviceInstance: 1200, port: 47808 } });
    expect(ahu.properties[0]!.visitor).toEqual({ objectType: 'analogInput', objectInstance: 1 });
  });

  it('unknown fields under Device.status are kept, the known ones read', async () => {
    const result = await validateFixture('status-unknown-fields.yaml');
    expect(result.problems).toEqual([]);
    const door = byName(result, 'door-01');
    expect(door.stateReport).toEqual({ reportToCloud: true, reportCycle: 30000 });
    expect(door.device.status).toMatchObject({
      currentNode: 'edge-node-1',
      health: { lastSeen: expect.any(String) },
    });
  });

  it("protocolConfigData and the model's visitors are defaults, overridden key by key by the device", async () => {
    const result = await validateFixture('protocol-config-data.yaml');
    expect(result.problems).toEqual([]);
    expect(result.warnings).toEqual([]);
    const meter = byName(result, 'meter-07');
    expect(meter.config).toEqual({ ip: '192.0.2.50', port: 502, timeout: 800, slaveID: 7 });
    expect(meter.properties[0]!.visitor).toEqual({
      register: 'InputRegister',
      offset: 100,
      limit: 2,
      dataType: 'float32',
    });
  });

  it('pushMethod.anomalyDetection (free-form) and dbMethod.Kwdb are kept as written', async () => {
    const result = await validateFixture('anomaly-detection.yaml');
    expect(result.problems).toEqual([]);
    expect(byName(result, 'vibration-01').properties[0]!.pushMethod).toEqual({
      anomalyDetection: {
        enabled: true,
        endpoint: 'http://192.0.2.61:9000/detect',
        algorithm: 'zscore',
        window: 60,
      },
      dbMethod: { Kwdb: { KWDBClientConfig: { addr: '192.0.2.62:26257', dbName: 'vibration' } } },
    });
  });

  it('a DeviceStatus with an empty spec and status.extensions', async () => {
    const result = await validateFixture('device-status.yaml');
    expect(result.problems).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.counts.DeviceStatus).toBe(1);
  });
});

describe('custom protocols: checked only when their schema is registered', () => {
  const text = (protocol: string) => `
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: {name: lamp-model}
spec:
  protocol: ${protocol}
  properties:
    - {name: on, type: BOOLEAN}
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: lamp-01}
spec:
  deviceModelRef: {name: lamp-model}
  protocol:
    protocolName: ${protocol}
    configData: {channel: twelve}
  properties:
    - name: on
      reportToCloud: true
      visitors: {configData: {relay: 2, colour: red}}
`;

  it('without a schema: anything goes', () => {
    const result = validateText(text('dali'));
    expect([...result.problems, ...result.warnings]).toEqual([]);
    expect(result.devices[0]).toMatchObject({ protocol: 'dali', config: { channel: 'twelve' } });
  });

  it('with a registered schema: its errors refuse the device, its unknown keys are warnings', () => {
    // The shape registerProtocol took before registration objects ({name, config, visitor}) is still taken.
    registerProtocol({
      name: 'dali-checked',
      config: Closed({ channel: Numeric({ integer: true, minimum: 0, maximum: 63 }) }),
      visitor: Closed({ relay: Numeric({ integer: true }), mode: Type.Optional(Type.String()) }),
    });
    const result = validateText(text('dali-checked'));
    expect(result.problems.map((p) => [p.path, p.message])).toEqual([
      ['spec.protocol.configData.channel', 'must be a number (got "twelve")'],
    ]);
    expect(result.warnings.map((p) => [p.path, p.message, p.severity])).toEqual([
      [
        'spec.properties[0].visitors.configData.colour',
        'unknown field: the dali-checked mapper ignores it',
        'warning',
      ],
    ]);
    expect(result.devices).toEqual([]);
  });
});

describe('what edgetwin says beyond KubeEdge', () => {
  const thermostat = readFileSync(new URL('../samples/modbus-tcp-thermostat.yaml', import.meta.url), 'utf8');

  it('a protocol name that is a built-in one but for case: a warning, silenced by naming it your own', () => {
    const text = thermostat.replace(/(protocol|protocolName): modbus/g, '$1: Modbus');
    const result = validateText(text);
    expect(result.problems).toEqual([]);
    expect(result.warnings.map((w) => [w.path, w.message])).toContainEqual([
      'spec.protocol.protocolName',
      '"Modbus" is not the built-in modbus protocol (protocol names are compared exactly): no mapper here serves it unless one of your own is named so; did you mean modbus?',
    ]);
    expect(result.devices[0]!.protocol).toBe('Modbus');
    const own = validateText(text, { extraProtocols: ['Modbus'] });
    expect([...own.problems, ...own.warnings]).toEqual([]);
  });

  it('a Device naming no DeviceModel cannot run: an error', () => {
    const result = validateText(
      thermostat.replace('  deviceModelRef:\n    name: thermostat-model\n', '  deviceModelRef: {}\n'),
    );
    expect(result.problems.map((p) => [p.path, p.message])).toEqual([
      [
        'spec.deviceModelRef.name',
        'is required: a device is an instance of a DeviceModel (spec.deviceModelRef.name)',
      ],
    ]);
  });

  it("the mapper-framework's serialPort on a Modbus device is its serialName: an RTU device", () => {
    const text = thermostat
      .replace('communicateMode: TCP', 'communicateMode: RTU')
      .replace(/ {6}ip: [^\n]+\n {6}port: [^\n]+\n/, '      serialPort: /dev/ttyUSB0\n');
    const result = validateText(text);
    expect(result.problems).toEqual([]);
    expect(result.devices[0]!.config).toMatchObject({ communicateMode: 'RTU', serialName: '/dev/ttyUSB0' });
    expect(result.devices[0]!.config).not.toHaveProperty('serialPort');
  });

  it("a bad value in the model's protocolConfigData is reported on the model, once for all its devices", () => {
    const model = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: {name: m}
spec:
  protocol: modbus
  protocolConfigData:
    ip: 192.0.2.1
    port: fifty
  properties:
    - {name: p, type: INT, accessMode: ReadOnly, visitors: {configData: {register: InputRegister, offset: 0}}}
`;
    const device = (name: string) => `---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: ${name}}
spec:
  deviceModelRef: {name: m}
  protocol: {protocolName: modbus, configData: {slaveID: 1}}
  properties: [{name: p, reportToCloud: true}]
`;
    const result = validateText(model + device('a') + device('b'));
    expect(result.problems).toEqual([
      {
        file: 'input.yaml',
        line: 8,
        col: 11,
        path: 'spec.protocolConfigData.port',
        message: 'must be a number (got "fifty")',
        severity: 'error',
      },
    ]);
    expect(result.devices).toEqual([]);
  });

  it('a model property name that is not a twin key is an error; one without a name a warning', () => {
    const named = validateText(
      thermostat.replace('- name: heater\n      description', '- name: heater relay\n      description'),
    );
    expect(named.problems.map((p) => [p.path, p.message])).toContainEqual([
      'spec.properties[2].name',
      '"heater relay" is not valid: a property name is a twin key, 1 to 128 of a-z A-Z 0-9 - _ . , : / @ #',
    ]);
    const unnamed = validateText(
      thermostat.replace(
        '    - name: heater\n      description: Heater relay\n',
        '    - description: Heater relay\n',
      ),
    );
    expect(unnamed.warnings.map((p) => [p.path, p.message])).toContainEqual([
      'spec.properties[2]',
      'has no name: no device can use this property',
    ]);
  });
});
