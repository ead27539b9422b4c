import { afterEach, describe, expect, it } from 'vitest';
import type { ModelProperty } from '../../device-models/internal.js';
import {
  loadSampleDevice,
  type ResolvedDevice,
  type SerialConfig,
  type SerialVisitor,
} from '../../device-models/internal.js';
import type { Point } from '../../sdk/driver.js';
import { type Call, deadline } from '../../sdk/runtime/call.js';
import { ConnectionPool } from '../../sdk/runtime/connection-pool.js';
import { driverContext } from '../../sdk/testing/driver-context.js';
import { SerialDriver } from './driver.js';
import { createSerialSimulator, type SerialSimulator } from './simulator.js';

type SerialDevice = ResolvedDevice<SerialConfig, SerialVisitor>;
const sampleScale = () => loadSampleDevice<SerialConfig, SerialVisitor>('scale-01');

/** What the runtime gives each call: a request timeout of 500 ms within a deadline of 3 s. */
const call = (): Call => ({ ...deadline(3000), timeoutMs: 500 });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startSimulator(
  device: SerialDevice,
): Promise<{ simulator: SerialSimulator; serialName: string }> {
  const simulator = createSerialSimulator(device, { seed: 3 });
  const { serialName } = await simulator.start();
  cleanups.push(() => simulator.stop());
  return { simulator, serialName: serialName as string };
}

/** A driver connected to `serialName` as `device`, on `connections` (default: a pool of its own). */
async function connect(device: SerialDevice, serialName: string, connections?: ConnectionPool) {
  const context = driverContext(connections ? { connections } : {});
  const driver = new SerialDriver(context);
  cleanups.push(() => driver.close());
  await driver.connect({ ...device.config, serialName }, call());
  return { driver, context };
}

async function setUp(device: SerialDevice) {
  const { simulator, serialName } = await startSimulator(device);
  return { simulator, serialName, ...(await connect(device, serialName)) };
}

function point(device: SerialDevice, name: string): Point<SerialVisitor> {
  const p = device.properties.find((q) => q.name === name);
  if (!p) throw new Error(`no property ${name}`);
  return { name, visitor: p.visitor, property: p.model };
}

/** A device with one request/response property, built from the sample scale. */
function counterDevice(scale: SerialDevice): SerialDevice {
  const model: ModelProperty = { name: 'count', type: 'INT', accessMode: 'ReadOnly' };
  return {
    ...scale,
    id: 'default/counter',
    properties: [
      {
        name: 'count',
        model,
        visitor: { request: 'R\r\n', pattern: '^T=(?<value>\\d+)$', timeout: 300 },
        collectCycle: 1000,
        reportCycle: 1000,
        reportToCloud: false,
      },
    ],
  };
}

describe('SerialDriver over a pty pair', () => {
  it('reads the streamed weight as a FLOAT and the mode as a STRING', async () => {
    const scale = await sampleScale();
    const { driver } = await setUp(scale);
    const weight = await driver.read(point(scale, 'weight'), call());
    expect(typeof weight.value).toBe('number');
    expect(weight.quality).toBe('good');
    expect(Math.abs(weight.value as number)).toBeLessThanOrEqual(30);
    expect((await driver.read(point(scale, 'mode'), call())).value).toBe('GS');
  });

  it('tares: the write is acked and the mode becomes NT', async () => {
    const scale = await sampleScale();
    const { driver, simulator } = await setUp(scale);
    expect(driver.readable(point(scale, 'tare'))).toBe(false);
    await driver.write(point(scale, 'tare'), true, call());
    expect(simulator.written('tare')).toBe('true');
    expect((await driver.read(point(scale, 'mode'), call())).value).toBe('NT');
  });

  it('sends a request and parses the answer', async () => {
    const device = counterDevice(await sampleScale());
    const { driver } = await setUp(device);
    const reading = await driver.read(point(device, 'count'), call());
    expect(reading.value).toBe(42);
  });

  it("times out with PROTOCOL_TIMEOUT after the visitor's timeout when the device does not answer", async () => {
    const device = counterDevice(await sampleScale());
    const { driver, simulator, context } = await setUp(device);
    simulator.silent = true;
    // The visitor's 300 ms, not the call's 3 s deadline.
    const slow = { ...deadline(3000), timeoutMs: 2500 };
    await expect(driver.read(point(device, 'count'), slow)).rejects.toMatchObject({
      code: 'PROTOCOL_TIMEOUT',
      message: expect.stringContaining('300 ms'),
    });
    simulator.silent = false;
    expect((await driver.read(point(device, 'count'), call())).value).toBe(42);
    expect(context.lostReasons).toEqual([]);
  });

  it('reports the port lost when it disappears, and fails later calls with DEVICE_UNAVAILABLE', async () => {
    const scale = await sampleScale();
    const { driver, simulator, context } = await setUp(scale);
    const read = expect(driver.read(point(scale, 'weight'), call())).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
    });
    await simulator.stop();
    await read;
    await expect.poll(() => context.lostReasons.length, { timeout: 3000 }).toBe(1);
    expect(context.lostReasons[0]).toMatchObject({ code: 'DEVICE_UNAVAILABLE' });
    await expect(driver.read(point(scale, 'mode'), call())).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
    });
  });

  it('reopens the same path once the simulator is back, as an adapter plugged back in', async () => {
    const scale = await sampleScale();
    const { driver, simulator, serialName, context } = await setUp(scale);
    await simulator.stop();
    await expect(driver.read(point(scale, 'mode'), call())).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
    });
    expect(context.lostReasons).toHaveLength(1);
    expect((await simulator.start()).serialName).toBe(serialName);
    await driver.connect({ ...scale.config, serialName }, call());
    expect((await driver.read(point(scale, 'mode'), call())).value).toBe('GS');
  });
});

describe('SerialDriver: devices sharing one port', () => {
  it('a streaming scale and a request/response counter read through one open port', async () => {
    const scale = await sampleScale();
    const counter = counterDevice(scale);
    // One simulator serving both: it streams the scale's lines and answers the counter's requests.
    const { simulator, serialName } = await startSimulator({
      ...scale,
      properties: [...scale.properties, ...counter.properties],
    });
    const pool = new ConnectionPool();
    const a = await connect(scale, serialName, pool);
    const b = await connect(counter, serialName, pool);
    expect(pool.size).toBe(1);
    for (let i = 0; i < 3; i++) {
      const [weight, mode, count] = await Promise.all([
        a.driver.read(point(scale, 'weight'), call()),
        a.driver.read(point(scale, 'mode'), call()),
        b.driver.read(point(counter, 'count'), call()),
      ]);
      expect(typeof weight.value).toBe('number');
      expect(mode.value).toMatch(/^(GS|NT)$/);
      expect(count.value).toBe(42);
    }
    // Exchanges take turns on the line: the tare and the counter's request both get their answers.
    const [, count] = await Promise.all([
      a.driver.write(point(scale, 'tare'), true, call()),
      b.driver.read(point(counter, 'count'), call()),
    ]);
    expect(count.value).toBe(42);
    expect(simulator.written('tare')).toBe('true');
    // The port stays open until the last device lets go.
    await a.driver.close();
    expect(pool.size).toBe(1);
    expect((await b.driver.read(point(counter, 'count'), call())).value).toBe(42);
    await b.driver.close();
    expect(pool.size).toBe(0);
  });

  it('refuses a device that asks the open port for other line settings', async () => {
    const scale = await sampleScale();
    const { serialName } = await startSimulator(scale);
    const pool = new ConnectionPool();
    await connect(scale, serialName, pool);
    const other = new SerialDriver(driverContext({ connections: pool }));
    cleanups.push(() => other.close());
    await expect(
      other.connect({ ...scale.config, serialName, baudRate: 19200 }, call()),
    ).rejects.toMatchObject({ code: 'DEVICE_UNAVAILABLE', message: expect.stringContaining('19200 baud') });
    expect(pool.size).toBe(1);
  });
});
