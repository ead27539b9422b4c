import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ModbusConfig, ModbusVisitor, ResolvedDevice } from '../../device-models/index.js';
import type { Point, ProtocolMapper, Reading } from '../../sdk/driver.js';
import { DeviceUnavailable, ProtocolError, ProtocolTimeout, ValueOutOfRange } from '../../sdk/errors.js';
import { type Call, deadline } from '../../sdk/runtime/call.js';
import { describeConformance } from '../../sdk/testing/conformance.js';
import { driverContext } from '../../sdk/testing/driver-context.js';
import { openPtyPair, type PtyPair } from '../../sdk/testing/pty.js';
import { ModbusDriver } from './driver.js';
import { modbusMapper } from './index.js';
import { createModbusSimulator, type ModbusSimulator, type ModbusSimulatorTransport } from './simulator.js';
import { property, thermostat } from './testdata/thermostat.js';

const TIMEOUT_MS = 300;
/** What the runtime gives each driver call. */
const call = (): Call => ({ ...deadline(TIMEOUT_MS * 4 + 1000), timeoutMs: TIMEOUT_MS });

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
    driver = new ModbusDriver(driverContext());
    await driver.connect({ ...device.config, ...reached, timeout: TIMEOUT_MS }, call());
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
    const temperature = await driver.read(point('temperature'), call());
    expect(temperature).toMatchObject({ quality: 'good' });
    expect(temperature.value).toBeCloseTo(21.5, 5);
    expect(temperature.timestamp).toBeGreaterThan(0);
    expect((await driver.read(point('setpoint'), call())).value).toBeCloseTo(21.5, 5);
    expect((await driver.read(point('heater'), call())).value).toBe(false);
    expect((await driver.read(point('alarm'), call())).value).toBe(true);
    expect((await driver.read(point('energy'), call())).value).toBeCloseTo(1234.5, 3);
    expect((await driver.read(point('zone7'), call())).value).toBe(42);
    expect(simulator.requests.map((r) => r.fc)).toEqual([4, 3, 1, 2, 3, 3]);
  });

  it('reads 20 contiguous holding registers in one FC3 request', async () => {
    const zones = Array.from({ length: 20 }, (_, i) => point(`zone${i}`));
    zones.forEach((_, i) => {
      simulator.set(`zone${i}`, i * 10);
    });
    const results = await driver.readMany(zones, call());
    expect(results.map((r) => (r as Reading).value)).toEqual(zones.map((_, i) => i * 10));
    expect(simulator.requests).toHaveLength(1);
    expect(simulator.requests[0]).toMatchObject({ fc: 3, address: 100, count: 20 });
  });

  it('reads a whole device in a few requests, and fails only the members of a failing request', async () => {
    const points = device.properties.map((p) => point(p.name));
    expect((await driver.readMany(points, call())).filter((r) => r instanceof Error)).toEqual([]);
    // The first cycle learns that the zones and the fan cannot be read across the gap between them.
    simulator.requests.splice(0);
    expect((await driver.readMany(points, call())).filter((r) => r instanceof Error)).toEqual([]);
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
    const mixed = await driver.readMany([point('temperature'), stray, point('zone3')], call());
    expect(mixed[0]).not.toBeInstanceOf(Error);
    expect(mixed[1]).toBeInstanceOf(ProtocolError);
    expect((mixed[1] as ProtocolError).exceptionCode).toBe(2);
    expect(mixed[2]).not.toBeInstanceOf(Error);
  });

  it('reads members alone when a read across unmapped registers is refused, then stops bridging gaps', async () => {
    simulator.set('zone19', 19);
    simulator.set('fan', 2);
    const first = await driver.readMany([point('zone19'), point('fan')], call());
    expect(first.map((r) => (r as Reading).value)).toEqual([19, 2]);
    expect(simulator.requests.map((r) => [r.fc, r.address, r.count])).toEqual([
      [3, 119, 7],
      [3, 119, 1],
      [3, 125, 1],
    ]);
    simulator.requests.splice(0);
    const second = await driver.readMany([point('zone19'), point('fan')], call());
    expect(second.map((r) => (r as Reading).value)).toEqual([19, 2]);
    expect(simulator.requests.map((r) => [r.fc, r.address, r.count])).toEqual([
      [3, 119, 1],
      [3, 125, 1],
    ]);
  });

  it('writes a single register with FC6 and a float32 with FC16', async () => {
    await driver.write(point('setpoint'), 23.5, call());
    expect(simulator.written('setpoint')).toBeCloseTo(23.5, 5);
    await driver.write(point('energy'), 2048.25, call());
    expect(simulator.written('energy')).toBeCloseTo(2048.25, 3);
    await driver.write(point('zone4'), 7, call());
    expect(simulator.written('zone4')).toBe(7);
    expect(simulator.requests.map((r) => [r.fc, r.address, r.count])).toEqual([
      [6, 10, 1],
      [16, 200, 2],
      [6, 104, 1],
    ]);
    expect((await driver.read(point('setpoint'), call())).value).toBeCloseTo(23.5, 5);
  });

  it('writes a coil with FC5', async () => {
    await driver.write(point('heater'), true, call());
    expect(simulator.written('heater')).toBe(true);
    await driver.write(point('heater'), false, call());
    expect(simulator.written('heater')).toBe(false);
    expect(simulator.requests.map((r) => r.fc)).toEqual([5, 5]);
  });

  it('refuses, without sending, values the register cannot hold and writes to input registers', async () => {
    // The model's range is the runtime's check (fromTwin); the register's own range is the driver's.
    await expect(driver.write(point('fan'), 70_000, call())).rejects.toBeInstanceOf(ValueOutOfRange);
    await expect(driver.write(point('zone1'), 40_000, call())).rejects.toBeInstanceOf(ValueOutOfRange);
    await expect(driver.write(point('temperature'), 20, call())).rejects.toBeInstanceOf(ProtocolError);
    await expect(driver.write(point('alarm'), true, call())).rejects.toBeInstanceOf(ProtocolError);
    expect(simulator.requests).toEqual([]);
  });

  it('times out with ProtocolTimeout (its request timeout) when the device does not answer', async () => {
    simulator.faults.drop = true;
    const started = Date.now();
    await expect(driver.read(point('setpoint'), call())).rejects.toBeInstanceOf(ProtocolTimeout);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS * 3);
    await expect(driver.write(point('setpoint'), 20, call())).rejects.toBeInstanceOf(ProtocolTimeout);
  });

  it('spends one timeout per readMany on a silent device, not one per request', async () => {
    simulator.faults.drop = true;
    const points = [point('heater'), point('alarm'), point('setpoint'), point('temperature')];
    const results = await driver.readMany(points, call());
    expect(results.every((r) => r instanceof ProtocolTimeout)).toBe(true);
    expect(simulator.requests).toHaveLength(1);
  });

  it('recovers from a timeout when the device answers again', async () => {
    simulator.faults.drop = true;
    await expect(driver.read(point('setpoint'), call())).rejects.toBeInstanceOf(ProtocolTimeout);
    simulator.faults.drop = false;
    expect((await driver.read(point('setpoint'), call())).value).toBeCloseTo(21.5, 5);
  });

  it('turns a Modbus exception into ProtocolError with its code', async () => {
    simulator.faults.exceptionCode = 6;
    const error = await driver.read(point('setpoint'), call()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ exceptionCode: 6 });
    await expect(driver.write(point('heater'), true, call())).rejects.toMatchObject({ exceptionCode: 6 });
  });

  it('serialises concurrent requests on one connection', async () => {
    const reads = await Promise.all(
      Array.from({ length: 10 }, (_, i) => driver.read(point(`zone${i}`), call())),
    );
    expect(reads.every((r) => r.quality === 'good')).toBe(true);
    expect(simulator.requests).toHaveLength(10);
  });

  it('rejects requests in flight when closed, and closes twice', async () => {
    simulator.faults.drop = true;
    const arrived = new Promise<void>((resolve) => {
      onRequest = resolve;
    });
    const pending = driver.read(point('setpoint'), call()).catch((error: unknown) => error);
    await arrived;
    await driver.close();
    expect(await pending).toBeInstanceOf(DeviceUnavailable);
    await driver.close();
    await expect(driver.read(point('setpoint'), call())).rejects.toBeInstanceOf(DeviceUnavailable);
  });

  it('stops a connect() in progress when closed', async () => {
    const reached = await simulator.start();
    const late = new ModbusDriver(driverContext());
    const connecting = late.connect({ ...reached, timeout: TIMEOUT_MS }, call());
    await late.close();
    await expect(connecting).rejects.toBeInstanceOf(DeviceUnavailable);
  });

  it('rejects with DeviceUnavailable when the device cannot be reached', async () => {
    const lonely = new ModbusDriver(driverContext());
    await expect(lonely.connect(await t.unreachable(), call())).rejects.toBeInstanceOf(DeviceUnavailable);
    await lonely.close();
  });
});

describe('modbusMapper', () => {
  it('registers the modbus schemas and creates drivers', () => {
    expect(modbusMapper.schemas.protocol).toBe('modbus');
    expect(modbusMapper.createDriver(driverContext())).toBeInstanceOf(ModbusDriver);
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
