import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedDevice, ResolvedProperty, TwinValue } from '../../device-models/index.js';
import type { Driver, Point, ProtocolMapper, Reading } from '../driver.js';
import { type Call, deadline } from '../runtime/call.js';
import { driverContext } from './driver-context.js';

/** A running simulator, as the conformance suite drives it. */
export interface SimulatorHandle {
  /** The protocol config that reaches it (merged over the device's own config). */
  config: Record<string, unknown>;
  stop(): Promise<void>;
}

export interface ConformanceTarget {
  /** Shown in the test names, e.g. "modbus over RTU". */
  name: string;
  mapper: ProtocolMapper;
  /** The device whose properties are exercised: a sample, resolved. */
  device: ResolvedDevice;
  /** Starts the simulator; called again after `stop()` it must come back on the same address. */
  startSimulator(): Promise<SimulatorHandle>;
  /** Makes the simulator stop answering requests (true) or answer again (false). */
  setSilent(silent: boolean): void;
  /** The value to write to each writable property; defaults come from the model's bounds. */
  writeValues?: Record<string, TwinValue>;
  /** How long a request may take before the driver must give up, ms (the config's timeout); default 500. */
  timeoutMs?: number;
}

const TYPES: Record<string, string> = {
  INT: 'number',
  FLOAT: 'number',
  DOUBLE: 'number',
  BOOLEAN: 'boolean',
};
const HANDLE_KINDS = new Set(['TCPSocketWrap', 'TCPServerWrap', 'PipeWrap', 'TTYWrap', 'FSEvent']);

function pointOf(p: ResolvedProperty): Point<unknown> {
  return { name: p.name, visitor: p.visitor, property: p.model };
}

function defaultWriteValue(p: ResolvedProperty): TwinValue {
  const { type, minimum, maximum } = p.model;
  if (type === 'BOOLEAN') return true;
  if (type === 'STRING') return 'edgetwin';
  const lo = minimum !== undefined ? Number(minimum) : 0;
  const hi = maximum !== undefined ? Number(maximum) : lo + 100;
  const third = lo + (hi - lo) / 3;
  return type === 'INT' ? Math.round(third) : Math.round(third * 10) / 10;
}

function openHandles(): number {
  return process.getActiveResourcesInfo().filter((kind) => HANDLE_KINDS.has(kind)).length;
}

/** Resolves once `condition()` holds, checking on every turn of the event loop; rejects after `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Equal, or for numbers equal to about 7 significant digits (what a float32 register holds). */
function expectClose(actual: TwinValue, expected: TwinValue): void {
  if (typeof expected !== 'number') expect(actual).toEqual(expected);
  else
    expect(Math.abs((actual as number) - expected)).toBeLessThanOrEqual(
      Math.max(1e-3, Math.abs(expected) * 1e-6),
    );
}

/**
 * The mapper conformance suite: a protocol is done when this passes against its simulator. Checks connect,
 * a read of every property with the model's type, batched reads, a write of every writable property read
 * back, behaviour when the device stops answering, reconnect after the simulator restarts, and a clean close.
 */
export function describeConformance(target: ConformanceTarget): void {
  describe(`mapper conformance: ${target.name}`, () => {
    let simulator: SimulatorHandle;
    let driver: Driver<unknown, unknown>;
    const config = () => ({ ...target.device.config, ...simulator.config });
    const newDriver = () => target.mapper.createDriver(driverContext()) as Driver<unknown, unknown>;
    const readable = () => target.device.properties.filter((p) => driver.readable?.(pointOf(p)) ?? true);
    const timeoutMs = target.timeoutMs ?? 500;
    /** What the runtime gives each call: the request timeout, and a deadline of a few of them. */
    const call = (): Call => ({ ...deadline(timeoutMs * 4 + 1000), timeoutMs });
    const connectCall = (): Call => ({ ...deadline(Math.max(10_000, timeoutMs * 4)), timeoutMs });
    let baselineHandles = 0;

    beforeAll(async () => {
      baselineHandles = openHandles();
      simulator = await target.startSimulator();
      driver = newDriver();
    });
    afterAll(async () => {
      await driver?.close();
      await simulator?.stop();
    });

    it('connects', async () => {
      await expect(driver.connect(config(), connectCall())).resolves.toBeUndefined();
    });

    it('reads every property with the type its model gives', async () => {
      for (const property of readable()) {
        const reading = await driver.read(pointOf(property), call());
        expect(reading.quality, property.name).toBe('good');
        expect(typeof reading.value, property.name).toBe(TYPES[property.model.type] ?? 'string');
        if (property.model.type === 'INT') expect(Number.isInteger(reading.value), property.name).toBe(true);
        expect(reading.timestamp).toBeGreaterThan(Date.now() - 60_000);
      }
    });

    const batches = target.mapper.createDriver(driverContext()).readMany !== undefined;
    it.skipIf(!batches)('reads a batch with one result per point, in order', async () => {
      if (!driver.readMany) throw new Error('readMany went missing');
      const points = readable().map(pointOf);
      const results = await driver.readMany(points, call());
      expect(results).toHaveLength(points.length);
      for (const [i, result] of results.entries()) {
        expect(result, points[i]!.name).not.toBeInstanceOf(Error);
        expect(typeof (result as Reading).value).toBe(TYPES[points[i]!.property.type] ?? 'string');
      }
    });

    it('writes every writable property and reads the value back', async () => {
      const writable = target.device.properties.filter((p) => p.model.accessMode !== 'ReadOnly');
      for (const property of writable) {
        const value = target.writeValues?.[property.name] ?? defaultWriteValue(property);
        await driver.write(pointOf(property), value, call());
        if (driver.readable?.(pointOf(property)) ?? true)
          expectClose((await driver.read(pointOf(property), call())).value, value);
      }
    });

    it('gives up with PROTOCOL_TIMEOUT when the device stops answering, then recovers', async () => {
      const [property] = readable();
      if (!property) throw new Error(`${target.device.id} has no readable property to exercise`);
      target.setSilent(true);
      const started = Date.now();
      try {
        await expect(driver.read(pointOf(property), call())).rejects.toMatchObject({
          code: 'PROTOCOL_TIMEOUT',
        });
        expect(Date.now() - started).toBeLessThan(timeoutMs * 5 + 1000);
      } finally {
        target.setSilent(false);
      }
      // The same connection answers again: a timeout is the device's silence, not a lost connection.
      expect((await driver.read(pointOf(property), call())).quality).toBe('good');
    });

    it('fails with DEVICE_UNAVAILABLE or PROTOCOL_TIMEOUT when the simulator goes away, and reconnects after it restarts', async () => {
      const [property] = readable();
      if (!property) throw new Error(`${target.device.id} has no readable property to exercise`);
      await simulator.stop();
      const error = await driver.read(pointOf(property), call()).then(
        () => undefined,
        (e: unknown) => e as { code?: string },
      );
      expect(['DEVICE_UNAVAILABLE', 'PROTOCOL_TIMEOUT']).toContain(error?.code);
      await driver.close();
      simulator = await target.startSimulator();
      driver = newDriver();
      await driver.connect(config(), connectCall());
      expect((await driver.read(pointOf(property), call())).quality).toBe('good');
    });

    it('closes cleanly: twice is fine, and no socket or port stays open', async () => {
      await driver.close();
      await driver.close();
      await expect(driver.read(pointOf(target.device.properties[0]!), call())).rejects.toMatchObject({
        code: 'DEVICE_UNAVAILABLE',
      });
      await simulator.stop();
      await until(() => openHandles() <= baselineHandles, 3000, 'sockets and ports to close');
    });
  });
}
