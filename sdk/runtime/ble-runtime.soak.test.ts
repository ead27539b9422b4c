import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceState, ResolvedDevice } from '../../device-models/index.js';
import { createBleMapper } from '../../mappers/ble/index.js';
import {
  type BleSimulator,
  createBleSimulator,
  SimulatedRadio,
} from '../../mappers/ble/simulated-adapter.js';
import { sampleThermometer } from '../../mappers/ble/testdata/thermometer.js';
import type { DeviceBus, ReportedValue } from './device-bus.js';
import { DeviceRuntime } from './device-runtime.js';

/**
 * A bounded soak of the BLE mapper: the sample thermometer read every millisecond through DeviceRuntime and
 * noble's own code over the simulated radio; the heap retained after a full gc must not grow with the reads.
 */

const WARMUP_MS = 5_000;
const MEASURE_MS = Number(process.env.SOAK_SECONDS ?? 20) * 1000;
const SAMPLES = 11;
const BOUND_BYTES_PER_READ = 20;

const gc: () => void = (() => {
  if (typeof globalThis.gc === 'function') return globalThis.gc;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** The EventBus as far as the runtime needs it, keeping nothing. */
class NullBus implements DeviceBus {
  async reportActual(_id: string, _values: Record<string, ReportedValue>): Promise<void> {}
  async publishState(_id: string, _state: DeviceState): Promise<void> {}
  async onDelta(): Promise<() => Promise<void>> {
    return async () => {};
  }
  async getTwins(): Promise<undefined> {
    return undefined;
  }
}

function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const sxy = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const sxx = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return sxy / sxx;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('BLE through DeviceRuntime over the simulated radio, soaked', () => {
  const radio = new SimulatedRadio();
  let simulator: BleSimulator;
  let runtime: DeviceRuntime;
  let reads = 0;
  const leak: unknown[] = [];

  beforeAll(async () => {
    const sample = await sampleThermometer();
    const device = {
      ...sample,
      properties: sample.properties.map((p) => ({ ...p, collectCycle: 1, reportCycle: 1 })),
    };
    simulator = createBleSimulator(device, { radio });
    const config = await simulator.start();
    runtime = new DeviceRuntime({
      device: { ...device, config: { ...device.config, ...config } } as ResolvedDevice,
      mapper: createBleMapper({ bindings: () => radio.createBindings(), timeoutMs: 1000 }) as never,
      bus: new NullBus(),
      backoff: { initialMs: 50, maxMs: 200 },
    });
    runtime.on('reading', (_name: string, reading: unknown) => {
      reads++;
      if (process.env.SOAK_INJECT_LEAK) leak.push(reading);
    });
    await runtime.start();
  });

  afterAll(async () => {
    await runtime?.stop();
    await simulator?.stop();
  });

  it(
    'retains under 20 bytes of heap per read after gc',
    async () => {
      await sleep(WARMUP_MS);
      const samples: { x: number; y: number; at: number }[] = [];
      const start = Date.now();
      for (let i = 0; i < SAMPLES; i++) {
        if (i > 0) await sleep(MEASURE_MS / (SAMPLES - 1));
        gc();
        gc();
        samples.push({ x: reads, y: process.memoryUsage().heapUsed, at: Date.now() });
      }
      const first = samples[0]!;
      const last = samples.at(-1)!;
      const measured = last.x - first.x;
      const perRead = slope(samples);
      console.log(
        `ble soak: ${measured} reads (${Math.round(measured / ((last.at - start) / 1000))}/s); heap after gc ` +
          `${(first.y / 1e6).toFixed(1)} -> ${(last.y / 1e6).toFixed(1)} MB; slope ${perRead.toFixed(2)} bytes/read`,
      );
      expect(measured).toBeGreaterThan(5_000);
      expect(perRead).toBeLessThan(BOUND_BYTES_PER_READ);
    },
    WARMUP_MS + MEASURE_MS + 15_000,
  );
});
