import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceState } from '../../device-models/internal.js';
import type { ProtocolMapper } from '../../sdk/driver.js';
import { DeviceRuntime } from '../../sdk/internal.js';
import type { DeviceBus, ReportedValue } from '../../sdk/runtime/device-bus.js';
import { modbusMapper } from './index.js';
import { createModbusSimulator, type ModbusSimulator } from './simulator.js';
import { thermostat } from './testdata/thermostat.js';

/**
 * A bounded soak: several Modbus devices polled every millisecond through DeviceRuntime and the shared
 * connection pool against simulators on loopback, asserting that the heap retained after a full gc does not
 * grow with the number of requests. The driver used to keep ~370 bytes per request alive (every read raced
 * a per-connection promise that never settled); SOAK_INJECT_LEAK=1 puts exactly that back, and this fails.
 */

const DEVICES = 8;
const WARMUP_MS = 5_000;
const MEASURE_MS = Number(process.env.SOAK_SECONDS ?? 20) * 1000;
const SAMPLES = 11;
/** Retained bytes per request allowed: a real leak is hundreds. */
const BOUND_BYTES_PER_REQUEST = 20;

/** A full collection, with or without --expose-gc on the command line. */
const gc: () => void = (() => {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** The EventBus as far as the runtime needs it, keeping nothing: what is measured is the runtime and driver. */
class CountingBus implements DeviceBus {
  reports = 0;
  async reportActual(_id: string, _values: Record<string, ReportedValue>): Promise<void> {
    this.reports++;
  }
  async publishState(_id: string, _state: DeviceState): Promise<void> {}
  async onDelta(): Promise<() => Promise<void>> {
    return async () => {};
  }
  async getTwins(): Promise<undefined> {
    return undefined;
  }
}

/** The old bug, for checking that this test catches it: every read races a promise that never settles. */
function leaking(mapper: ProtocolMapper): ProtocolMapper {
  return {
    ...mapper,
    createDriver(context) {
      const driver = mapper.createDriver(context);
      const never = new Promise<never>(() => {});
      const read = driver.read.bind(driver);
      driver.read = (point, call) => Promise.race([read(point, call), never]);
      if (driver.readMany) {
        const readMany = driver.readMany.bind(driver);
        driver.readMany = (points, call) => Promise.race([readMany(points, call), never]);
      }
      return driver;
    },
  };
}

/** Least-squares slope of y over x. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxy = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return sxy / sxx;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Modbus through DeviceRuntime, soaked', () => {
  const simulators: ModbusSimulator[] = [];
  const runtimes: DeviceRuntime[] = [];
  const bus = new CountingBus();
  let requests = 0;
  let drain: NodeJS.Timeout | undefined;

  /** Counts what the simulators received and empties their request logs (which keep every request). */
  const count = () => {
    for (const simulator of simulators) {
      requests += simulator.requests.length;
      simulator.requests.length = 0;
    }
  };

  beforeAll(async () => {
    const mapper = process.env.SOAK_INJECT_LEAK ? leaking(modbusMapper as never) : modbusMapper;
    for (let i = 0; i < DEVICES; i++) {
      const base = thermostat();
      const device = {
        ...base,
        id: `default/soak-${i}`,
        name: `soak-${i}`,
        properties: base.properties.map((p) => ({ ...p, collectCycle: 1, reportCycle: 1 })),
      };
      const simulator = createModbusSimulator(device, { transport: { kind: 'tcp', port: 0 }, seed: i });
      simulators.push(simulator);
      const reached = await simulator.start();
      const runtime = new DeviceRuntime({
        device: { ...device, config: { ...device.config, ...reached, timeout: 1000 } },
        mapper: mapper as never,
        bus,
        backoff: { initialMs: 50, maxMs: 200 },
      });
      runtimes.push(runtime);
      await runtime.start();
    }
    drain = setInterval(count, 100);
  });

  afterAll(async () => {
    clearInterval(drain);
    await Promise.all(runtimes.map((r) => r.stop()));
    await Promise.all(simulators.map((s) => s.stop()));
  });

  it(
    'retains under 20 bytes of heap per request after gc',
    async () => {
      await sleep(WARMUP_MS);
      const samples: { x: number; y: number; at: number }[] = [];
      const start = Date.now();
      for (let i = 0; i < SAMPLES; i++) {
        if (i > 0) await sleep(MEASURE_MS / (SAMPLES - 1));
        count();
        gc();
        gc();
        samples.push({ x: requests, y: process.memoryUsage().heapUsed, at: Date.now() });
      }
      const first = samples[0]!;
      const last = samples.at(-1)!;
      const measured = last.x - first.x;
      const perRequest = slope(samples);
      const rate = Math.round(measured / ((last.at - start) / 1000));
      console.log(
        `soak: ${measured} requests (${rate}/s, ${DEVICES} devices, ${bus.reports} reports); heap after gc ` +
          `${(first.y / 1e6).toFixed(1)} -> ${(last.y / 1e6).toFixed(1)} MB; slope ${perRequest.toFixed(2)} bytes/request`,
      );
      expect(measured).toBeGreaterThan(10_000);
      expect(perRequest).toBeLessThan(BOUND_BYTES_PER_REQUEST);
    },
    WARMUP_MS + MEASURE_MS + 15_000,
  );
});
