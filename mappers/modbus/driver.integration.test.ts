import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type ModbusConfig,
  type ModbusVisitor,
  type ResolvedDevice,
  TwinValueError,
} from '../../device-models/index.js';
import type { Point, ProtocolMapper, Reading } from '../../sdk/driver.js';
import { DeviceUnavailable, ProtocolError, ProtocolTimeout, ValueOutOfRange } from '../../sdk/errors.js';
import { silentLogger } from '../../sdk/logger.js';
import { describeConformance } from '../../sdk/testing/conformance.js';
import { openPtyPair, type PtyPair } from '../../sdk/testing/pty.js';
import { ModbusDriver } from './driver.js';
import { modbusMapper } from './index.js';
import { createModbusSimulator, type ModbusSimulator, type ModbusSimulatorTransport } from './simulator.js';
import { property, thermostat } from './testdata/thermostat.js';

const TIMEOUT_MS = 300;

/** The thermostat, plus 20 contiguous holding registers and a float32 over two registers. */
const device = thermostat([
  property(
    { name: 'energy', type: 'DOUBLE', accessMode: 'ReadWrite', minimum: '0', maximum: '100000' },
    { register: 'HoldingRegister', offset: 200, dataType: 'float32' },
  ),
  property(
    { name: 'alarm', type: 'BOOLEAN', accessMode: 'ReadOnly' },
    { register: 'DiscreteInputRegister', offset: 3 },
  ),
  // Five unmapped registers after the zones: a read bridging them gets exception 2 from the simulator.
  property(
    { name: 'fan', type: 'INT', accessMode: 'ReadWrite', minimum: '0', maximum: '3' },
    { register: 'HoldingRegister', offset: 125, dataType: 'uint16' },
  ),
  ...Array.from({ length: 20 }, (_, i) =>
    property(
      { name: `zone${i}`, type: 'INT', accessMode: 'ReadWrite', minimum: '0', maximum: '1000' },
      { register: 'HoldingRegister', offset: 100 + i },
    ),
  ),
]);

const point = (name: string): Point<ModbusVisitor> => {
  const p = device.properties.find((q) => q.name === name)!;
  return { name, visitor: p.visitor, property: p.model };
};

interface Transport {
  name: string;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  transport(): ModbusSimulatorTransport;
  /** A config that reaches nothing. */
  unreachable(): Promise<ModbusConfig>;
}

let pty: PtyPair | undefined;

const transports: Transport[] = [
  {
    name: 'TCP',
    transport: () => ({ kind: 'tcp', port: 0 }),
    async unreachable() {
      const gone = createModbusSimulator(device);
      const config = await gone.start();
      await gone.stop();
      return { ...config, timeout: TIMEOUT_MS };
    },
  },
  {
    name: 'RTU over a pty pair',
    async setup() {
      pty = await openPtyPair();
    },
    async teardown() {
      await pty?.close();
    },
    transport: () => ({ kind: 'rtu', path: pty!.a, peer: pty!.b, baudRate: 38_400 }),
    unreachable: async () => ({
      communicateMode: 'RTU',
      serialName: `${pty!.a}-missing`,
      timeout: TIMEOUT_MS,
    }),
  },
];

describe.each(transports)('ModbusDriver over $name', (t) => {
  let simulator: ModbusSimulator;
  let driver: ModbusDriver;
  let onRequest: (() => void) | undefined;

  beforeAll(async () => t.setup?.());
  afterAll(async () => t.teardown?.());

  beforeEach(async () => {
    onRequest = undefined;
    simulator = createModbusSimulator(device, { transport: t.transport(), onRequest: () => onRequest?.() });
    const reached = await simulator.start();
    driver = new ModbusDriver({ log: silentLogger });
    expect(driver.state()).toBe('offline');
    await driver.connect({ ...device.config, ...reached, timeout: TIMEOUT_MS });
    expect(driver.state()).toBe('online');
    simulator.requests.splice(0);
  });

  afterEach(async () => {
    await driver.close();
    await simulator.stop();
  });

  it('reads each property, decoded with its visitor', async () => {
    simulator.set('temperature', 21.5);
    simulator.set('energy', 1234.5);
    simulator.set('alarm', true);
    simulator.set('zone7', 42);
    const temperature = await driver.read(point('temperature'));
    expect(temperature).toMatchObject({ quality: 'good' });
    expect(temperature.value).toBeCloseTo(21.5, 5);
    expect(temperature.timestamp).toBeGreaterThan(0);
    expect((await driver.read(point('setpoint'))).value).toBeCloseTo(21.5, 5);
    expect((await driver.read(point('heater'))).value).toBe(false);
    expect((await driver.read(point('alarm'))).value).toBe(true);
    expect((await driver.read(point('energy'))).value).toBeCloseTo(1234.5, 3);
    expect((await driver.read(point('zone7'))).value).toBe(42);
    expect(simulator.requests.map((r) => r.fc)).toEqual([4, 3, 1, 2, 3, 3]);
  });

  it('reads 20 contiguous holding registers in one FC3 request', async () => {
    const zones = Array.from({ length: 20 }, (_, i) => point(`zone${i}`));
    zones.forEach((_, i) => {
      simulator.set(`zone${i}`, i * 10);
    });
    const results = await driver.readMany(zones);
    expect(results.map((r) => (r as Reading).value)).toEqual(zones.map((_, i) => i * 10));
    expect(simulator.requests).toHaveLength(1);
    expect(simulator.requests[0]).toMatchObject({ fc: 3, address: 100, count: 20 });
  });

  it('reads a whole device in a few requests, and fails only the members of a failing request', async () => {
    const points = device.properties.map((p) => point(p.name));
    expect((await driver.readMany(points)).filter((r) => r instanceof Error)).toEqual([]);
    // The first cycle learns that the zones and the fan cannot be read across the gap between them.
    simulator.requests.splice(0);
    expect((await driver.readMany(points)).filter((r) => r instanceof Error)).toEqual([]);
    expect(simulator.requests.map((r) => [r.fc, r.address, r.count])).toEqual([
      [1, 0, 1],
      [2, 3, 1],
      [3, 10, 1],
      [3, 100, 20],
      [3, 125, 1],
      [3, 200, 2],
      [4, 0, 1],
    ]);

    simulator.requests.splice(0);
    const stray: Point<ModbusVisitor> = {
      name: 'stray',
      visitor: { register: 'InputRegister', offset: 900 },
      property: { name: 'stray', type: 'INT', accessMode: 'ReadOnly' },
    };
    const mixed = await driver.readMany([point('temperature'), stray, point('zone3')]);
    expect(mixed[0]).not.toBeInstanceOf(Error);
    expect(mixed[1]).toBeInstanceOf(ProtocolError);
    expect((mixed[1] as ProtocolError).exceptionCode).toBe(2);
    expect(mixed[2]).not.toBeInstanceOf(Error);
    expect(driver.state()).toBe('online');
  });

  it('reads members alone when a read across unmapped registers is refused, then stops bridging gaps', async () => {
    simulator.set('zone19', 19);
    simulator.set('fan', 2);
    const first = await driver.readMany([point('zone19'), point('fan')]);
    expect(first.map((r) => (r as Reading).value)).toEqual([19, 2]);
    expect(simulator.requests.map((r) => [r.fc, r.address, r.count])).toEqual([
      [3, 119, 7],
      [3, 119, 1],
      [3, 125, 1],
    ]);
    simulator.requests.splice(0);
    const second = await driver.readMany([point('zone19'), point('fan')]);
    expect(second.map((r) => (r as Reading).value)).toEqual([19, 2]);
    expect(simulator.requests.map((r) => [r.fc, r.address, r.count])).toEqual([
      [3, 119, 1],
      [3, 125, 1],
    ]);
  });

  it('writes a single register with FC6 and a float32 with FC16', async () => {
    await driver.write(point('setpoint'), 23.5);
    expect(simulator.written('setpoint')).toBeCloseTo(23.5, 5);
    await driver.write(point('energy'), '2048.25');
    expect(simulator.written('energy')).toBeCloseTo(2048.25, 3);
    await driver.write(point('zone4'), 7);
    expect(simulator.written('zone4')).toBe(7);
    expect(simulator.requests.map((r) => [r.fc, r.address, r.count])).toEqual([
      [6, 10, 1],
      [16, 200, 2],
      [6, 104, 1],
    ]);
    expect((await driver.read(point('setpoint'))).value).toBeCloseTo(23.5, 5);
  });

  it('writes a coil with FC5', async () => {
    await driver.write(point('heater'), true);
    expect(simulator.written('heater')).toBe(true);
    await driver.write(point('heater'), 'false');
    expect(simulator.written('heater')).toBe(false);
    expect(simulator.requests.map((r) => r.fc)).toEqual([5, 5]);
  });

  it('refuses, without sending, values out of range and writes to input registers', async () => {
    await expect(driver.write(point('setpoint'), 99)).rejects.toBeInstanceOf(ValueOutOfRange);
    await expect(driver.write(point('setpoint'), 'warm')).rejects.toBeInstanceOf(TwinValueError);
    await expect(driver.write(point('temperature'), 20)).rejects.toBeInstanceOf(ProtocolError);
    await expect(driver.write(point('alarm'), true)).rejects.toBeInstanceOf(ProtocolError);
    expect(simulator.requests).toEqual([]);
  });

  it('times out with ProtocolTimeout when the device does not answer, and goes offline after three', async () => {
    simulator.faults.drop = true;
    const started = Date.now();
    await expect(driver.read(point('setpoint'))).rejects.toBeInstanceOf(ProtocolTimeout);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS * 3);
    expect(driver.state()).toBe('unhealthy');
    await expect(driver.write(point('setpoint'), 20)).rejects.toBeInstanceOf(ProtocolTimeout);
    await expect(driver.read(point('heater'))).rejects.toBeInstanceOf(ProtocolTimeout);
    expect(driver.state()).toBe('offline');
    await expect(driver.read(point('heater'))).rejects.toBeInstanceOf(DeviceUnavailable);
  });

  it('recovers from a timeout when the device answers again', async () => {
    simulator.faults.drop = true;
    await expect(driver.read(point('setpoint'))).rejects.toBeInstanceOf(ProtocolTimeout);
    simulator.faults.drop = false;
    expect((await driver.read(point('setpoint'))).value).toBeCloseTo(21.5, 5);
    expect(driver.state()).toBe('online');
  });

  it('turns a Modbus exception into ProtocolError with its code', async () => {
    simulator.faults.exceptionCode = 6;
    const error = await driver.read(point('setpoint')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ exceptionCode: 6 });
    await expect(driver.write(point('heater'), true)).rejects.toMatchObject({ exceptionCode: 6 });
    expect(driver.state()).toBe('online');
  });

  it('serialises concurrent requests on one connection', async () => {
    const reads = await Promise.all(Array.from({ length: 10 }, (_, i) => driver.read(point(`zone${i}`))));
    expect(reads.every((r) => r.quality === 'good')).toBe(true);
    expect(simulator.requests).toHaveLength(10);
  });

  it('rejects requests in flight when closed, and closes twice', async () => {
    simulator.faults.drop = true;
    const arrived = new Promise<void>((resolve) => {
      onRequest = resolve;
    });
    const pending = driver.read(point('setpoint')).catch((error: unknown) => error);
    await arrived;
    await driver.close();
    expect(await pending).toBeInstanceOf(DeviceUnavailable);
    await driver.close();
    expect(driver.state()).toBe('closed');
    await expect(driver.read(point('setpoint'))).rejects.toBeInstanceOf(DeviceUnavailable);
  });

  it('stops a connect() in progress when closed', async () => {
    const reached = await simulator.start();
    const late = new ModbusDriver({ log: silentLogger });
    const connecting = late.connect({ ...reached, timeout: TIMEOUT_MS });
    await late.close();
    await expect(connecting).rejects.toBeInstanceOf(DeviceUnavailable);
    expect(late.state()).toBe('closed');
  });

  it('rejects with DeviceUnavailable when the device cannot be reached', async () => {
    const lonely = new ModbusDriver({ log: silentLogger });
    await expect(lonely.connect(await t.unreachable())).rejects.toBeInstanceOf(DeviceUnavailable);
    expect(lonely.state()).toBe('offline');
    await lonely.close();
  });
});

describe('modbusMapper', () => {
  it('registers the modbus schemas and creates drivers', () => {
    expect(modbusMapper.schemas.name).toBe('modbus');
    expect(modbusMapper.createDriver({ log: silentLogger })).toBeInstanceOf(ModbusDriver);
  });
});

/** The sdk's conformance suite, against the simulator over TCP and over RTU. */
function conformance(name: string, transport: () => ModbusSimulatorTransport): void {
  let current: ModbusSimulator | undefined;
  describeConformance({
    name,
    mapper: modbusMapper as unknown as ProtocolMapper,
    device: device as unknown as ResolvedDevice,
    timeoutMs: TIMEOUT_MS,
    // float32 holds about 7 significant digits; the default (a third of the range) needs more.
    writeValues: { energy: 2048.25 },
    async startSimulator() {
      current = createModbusSimulator(device, { transport: transport() });
      const simulator = current;
      const config = { ...(await simulator.start()), timeout: TIMEOUT_MS };
      // Restarts come back on the same address.
      if (config.port !== undefined) tcpPort = config.port;
      return { config, stop: () => simulator.stop() };
    },
    setSilent(silent) {
      if (current) current.faults.drop = silent;
    },
  });
}

let tcpPort = 0;
conformance('modbus over TCP', () => ({ kind: 'tcp', port: tcpPort }));

describe('over RTU', () => {
  let pair: PtyPair | undefined;
  beforeAll(async () => {
    pair = await openPtyPair();
  });
  afterAll(async () => pair?.close());
  conformance('modbus over RTU', () => ({ kind: 'rtu', path: pair!.a, peer: pair!.b, baudRate: 38_400 }));
});
