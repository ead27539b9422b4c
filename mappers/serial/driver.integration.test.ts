import { afterEach, describe, expect, it } from 'vitest';
import type { ModelProperty } from '../../device-models/index.js';
import {
  loadSampleDevice,
  type ResolvedDevice,
  type SerialConfig,
  type SerialVisitor,
} from '../../device-models/index.js';
import type { Point } from '../../sdk/driver.js';
import { silentLogger } from '../../sdk/logger.js';
import { SerialDriver } from './driver.js';

type SerialDevice = ResolvedDevice<SerialConfig, SerialVisitor>;
const sampleScale = () => loadSampleDevice<SerialConfig, SerialVisitor>('scale-01');

import { createSerialSimulator, type SerialSimulator } from './simulator.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(
  device: SerialDevice,
): Promise<{ driver: SerialDriver; simulator: SerialSimulator; serialName: string }> {
  const simulator = createSerialSimulator(device, { seed: 3 });
  const config = await simulator.start();
  cleanups.push(() => simulator.stop());
  const driver = new SerialDriver({ log: silentLogger });
  cleanups.push(() => driver.close());
  await driver.connect({ ...device.config, ...config, serialName: config.serialName as string });
  return { driver, simulator, serialName: config.serialName as string };
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
    const weight = await driver.read(point(scale, 'weight'));
    expect(typeof weight.value).toBe('number');
    expect(weight.quality).toBe('good');
    expect(Math.abs(weight.value as number)).toBeLessThanOrEqual(30);
    expect((await driver.read(point(scale, 'mode'))).value).toBe('GS');
  });

  it('tares: the write is acked and the mode becomes NT', async () => {
    const scale = await sampleScale();
    const { driver, simulator } = await setUp(scale);
    expect(driver.readable(point(scale, 'tare'))).toBe(false);
    await driver.write(point(scale, 'tare'), true);
    expect(simulator.written('tare')).toBe('true');
    expect((await driver.read(point(scale, 'mode'))).value).toBe('NT');
  });

  it('sends a request and parses the answer', async () => {
    const device = counterDevice(await sampleScale());
    const { driver } = await setUp(device);
    const reading = await driver.read(point(device, 'count'));
    expect(reading.value).toBe(42);
  });

  it('times out with PROTOCOL_TIMEOUT when the device does not answer', async () => {
    const device = counterDevice(await sampleScale());
    const { driver, simulator } = await setUp(device);
    simulator.silent = true;
    await expect(driver.read(point(device, 'count'))).rejects.toMatchObject({ code: 'PROTOCOL_TIMEOUT' });
    simulator.silent = false;
    expect((await driver.read(point(device, 'count'))).value).toBe(42);
  });

  it('goes offline when the port disappears', async () => {
    const scale = await sampleScale();
    const { driver, simulator } = await setUp(scale);
    const rejected = expect(driver.read(point(scale, 'weight'))).rejects.toBeInstanceOf(Error);
    await simulator.stop();
    await rejected;
    await expect.poll(() => driver.state(), { timeout: 3000 }).toBe('offline');
  });

  it('reopens the same path once the simulator is back, as an adapter plugged back in', async () => {
    const scale = await sampleScale();
    const { driver, simulator, serialName } = await setUp(scale);
    await simulator.stop();
    await expect.poll(() => driver.state(), { timeout: 3000 }).toBe('offline');
    expect((await simulator.start()).serialName).toBe(serialName);
    await driver.connect({ ...scale.config, serialName });
    expect((await driver.read(point(scale, 'mode'))).value).toBe('GS');
  });
});
