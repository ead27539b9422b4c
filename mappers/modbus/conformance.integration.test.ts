import {
  loadSampleDevice,
  type ModbusConfig,
  type ModbusVisitor,
  type ModelProperty,
  type ResolvedDevice,
  type ResolvedProperty,
} from '../../device-models/internal.js';
import type { TypedWrites } from '../../sdk/testing/conformance.js';
import { describeConformance } from '../../sdk/testing/index.js';
import { resolvedDevice } from '../../sdk/testing/resolved-device.js';
import { modbusMapper } from './index.js';
import {
  createModbusLineSimulator,
  createModbusSimulator,
  type ModbusSimulator,
  type ModbusSimulatorTransport,
} from './simulator.js';

type ModbusDevice = ResolvedDevice<ModbusConfig, ModbusVisitor>;
const sampleDevice = (name: string) => loadSampleDevice<ModbusConfig, ModbusVisitor>(name);

/**
 * The conformance suite on the sample devices as shipped: the thermostat over TCP and RTU, the meter over RTU.
 * Each also runs with two more units on its line (other unit IDs on the same TCP endpoint or pty line); the
 * thermostat runs add typed writes on a device with one register per Modbus data type.
 */

const TIMEOUT_MS = 300;

/** The same device under another name and unit ID: its neighbour on a shared line. */
function unit(device: ModbusDevice, slaveID: number): ModbusDevice {
  const name = `${device.name}-unit-${slaveID}`;
  return { ...device, name, id: `${device.namespace}/${name}`, config: { ...device.config, slaveID } };
}

function writable(
  name: string,
  type: ModelProperty['type'],
  visitor: ModbusVisitor,
): ResolvedProperty<ModbusVisitor> {
  return {
    name,
    model: { name, type, accessMode: 'ReadWrite' },
    visitor,
    collectCycle: 1000,
    reportCycle: 1000,
    reportToCloud: false,
  };
}

/** One writable property per data type (and a scaled one), on holding registers and a coil. */
const typedDevice: ModbusDevice = resolvedDevice<ModbusConfig, ModbusVisitor>({
  name: 'modbus-typed',
  protocol: 'modbus',
  config: { communicateMode: 'TCP', ip: '127.0.0.1', port: 502, slaveID: 1 },
  properties: [
    writable('int16', 'INT', { register: 'HoldingRegister', offset: 0, limit: 1, dataType: 'int16' }),
    writable('uint16', 'INT', { register: 'HoldingRegister', offset: 1, limit: 1, dataType: 'uint16' }),
    writable('int32', 'INT', { register: 'HoldingRegister', offset: 2, limit: 2, dataType: 'int32' }),
    writable('uint32', 'INT', { register: 'HoldingRegister', offset: 4, limit: 2, dataType: 'uint32' }),
    writable('float32', 'FLOAT', { register: 'HoldingRegister', offset: 6, limit: 2, dataType: 'float32' }),
    writable('float64', 'DOUBLE', { register: 'HoldingRegister', offset: 8, limit: 4, dataType: 'float64' }),
    writable('tenths', 'FLOAT', {
      register: 'HoldingRegister',
      offset: 12,
      limit: 1,
      dataType: 'int16',
      scale: 0.1,
    }),
    writable('coil', 'BOOLEAN', { register: 'CoilRegister', offset: 0, limit: 1 }),
  ],
});

/** Typed writes on `typedDevice`, served on a fresh endpoint (a free TCP port, or a new pty pair). */
function typedWrites(kind: 'tcp' | 'rtu'): TypedWrites {
  const transport: ModbusSimulatorTransport = kind === 'tcp' ? { kind, port: 0 } : { kind };
  return {
    device: typedDevice as ResolvedDevice,
    async startSimulator() {
      const simulator = createModbusSimulator(typedDevice, { transport });
      const config = await simulator.start();
      return { config: { ...config, timeout: TIMEOUT_MS }, stop: () => simulator.stop() };
    },
    writes: [
      { property: 'int16', value: -1234, refuses: [40000, -40000] },
      { property: 'uint16', value: 65000, refuses: [-1, 70000] },
      { property: 'int32', value: -2_000_000_000, refuses: [3_000_000_000] },
      { property: 'uint32', value: 4_000_000_000, refuses: [-1] },
      // float32 holds 24 bits of mantissa: 2^24 + 1 becomes 2^24.
      {
        property: 'float32',
        value: 21.7,
        inexact: { value: 16_777_217, holds: 16_777_216 },
        refuses: [1e39],
      },
      { property: 'float64', value: Math.PI },
      // Tenths in an int16: 21.55 rounds to the nearest tenth, halves up (README: "holds 23.5 or 23.6").
      { property: 'tenths', value: -21.5, inexact: { value: 21.55, holds: 21.6 }, refuses: [4000] },
      { property: 'coil', value: true },
    ],
    unsupportedTypes: {
      STRING: 'Modbus registers hold numbers and bits: a STRING property has no data type',
    },
  };
}

function conformance(name: string, device: ModbusDevice, kind: 'tcp' | 'rtu', typed: boolean) {
  let current: ModbusSimulator | undefined;
  let reached: Partial<ModbusConfig> | undefined;
  /** A restart comes back on the same TCP port (or a new pty pair); `fresh` picks a free port. */
  const transport = (fresh = false): ModbusSimulatorTransport =>
    kind === 'tcp' ? { kind, port: fresh ? 0 : (reached?.port ?? 0) } : { kind: 'rtu' };
  describeConformance({
    name: `${name} (sample ${device.name})`,
    mapper: modbusMapper as never,
    device: device as ResolvedDevice,
    timeoutMs: TIMEOUT_MS,
    async startSimulator() {
      current = createModbusSimulator(device, { transport: transport(), seed: 1 });
      const simulator = current;
      reached = await simulator.start();
      return { config: { ...reached, timeout: TIMEOUT_MS }, stop: () => simulator.stop() };
    },
    setSilent(silent) {
      if (current) current.faults.drop = silent;
    },
    async sharedLine() {
      const slaveID = Number(device.config.slaveID ?? 1);
      const devices = [device, unit(device, slaveID + 1), unit(device, slaveID + 2)];
      const line = createModbusLineSimulator(devices, { transport: transport(true), seed: 1 });
      const endpoint = await line.start();
      return {
        devices: devices.map((d) => ({
          device: d as ResolvedDevice,
          config: { ...endpoint, slaveID: d.config.slaveID, timeout: TIMEOUT_MS },
        })),
        stop: () => line.stop(),
        set: (deviceName, property, value) =>
          line.device(deviceName).set(property, value as number | boolean),
        setSilent: (deviceName, silent) => {
          line.device(deviceName).faults.drop = silent;
        },
      };
    },
    ...(typed
      ? { typedWrites: typedWrites(kind) }
      : { unsupported: { typedWrites: 'exercised on the thermostat runs: the same driver and codecs' } }),
  });
}

conformance('modbus over TCP', await sampleDevice('thermostat-01'), 'tcp', true);
conformance('modbus over RTU', await sampleDevice('thermostat-01'), 'rtu', true);
conformance('modbus over RTU', await sampleDevice('energy-meter-01'), 'rtu', false);
