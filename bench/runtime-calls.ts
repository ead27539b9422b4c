import type {
  DeviceState,
  ModbusConfig,
  ModbusVisitor,
  ResolvedDevice,
  ResolvedProperty,
} from '../device-models/index.js';
import { modbusMapper } from '../mappers/modbus/index.js';
import { createModbusLineSimulator } from '../mappers/modbus/simulator.js';
import type { Driver, Point, ProtocolMapper, Reading } from '../sdk/driver.js';
import { abortOf } from '../sdk/runtime/call.js';
import { ConnectionPool, type SharedConnection } from '../sdk/runtime/connection-pool.js';
import type { DeviceBus, ReportedValue } from '../sdk/runtime/device-bus.js';
import { DeviceRuntime } from '../sdk/runtime/device-runtime.js';
import { resolvedDevice } from '../sdk/testing/resolved-device.js';

/**
 * The runtime's CPU per read request, what issue 11 is about: DeviceRuntime instances polling as fast as
 * their timers allow (collectCycle 1 ms, 10 properties coalesced into one request, no reporting), over
 *  - `plumbing`: a driver that answers at once through a pooled connection's `exclusive` (the runtime's
 *    queue, deadline, abort and connection layers, no I/O), and
 *  - `modbus`: the Modbus TCP driver against an in-process simulator line (its CPU counted too), devices
 *    sharing one endpoint as in the edge-scale bench.
 * Prints CPU µs per request (process.cpuUsage over the window). For instruction counts, which other load
 * on the machine does not change, run under `valgrind --tool=callgrind` with `BENCH_CALLS_REQUESTS=N` (the
 * window ends after N requests instead of a time) for two values of N, and divide the difference in
 * instructions by the difference in N. `BENCH_CALLS_ONLY=plumbing|modbus` picks one part.
 */

const PROPERTIES = 10;
const WARMUP_MS = 1000;
const WARMUP_REQUESTS = 200;
/**
 * Each device's collectCycle, ms. 1 (as fast as it goes) for CPU per request; under callgrind a cycle that
 * every device's request fits in (e.g. 100 ms for 5 devices), so that each cycle tick makes one request, as
 * at 1 s in production, and an idle interval firing again and again is not counted.
 */
const CYCLE_MS = Number(process.env.BENCH_CALLS_CYCLE ?? 1);

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

function device(n: number, config: Partial<ModbusConfig>): ResolvedDevice<ModbusConfig, ModbusVisitor> {
  const properties: ResolvedProperty<ModbusVisitor>[] = Array.from({ length: PROPERTIES }, (_, i) => ({
    name: `p${i}`,
    model: { name: `p${i}`, type: 'INT', accessMode: 'ReadOnly' },
    visitor: { register: 'HoldingRegister', offset: i, limit: 1, dataType: 'int16' },
    collectCycle: CYCLE_MS,
    reportCycle: 60_000,
    reportToCloud: false,
  }));
  return resolvedDevice({
    name: `dev-${n}`,
    protocol: 'modbus',
    config: { communicateMode: 'TCP', ip: '127.0.0.1', slaveID: n + 1, timeout: 1000, ...config },
    properties,
  });
}

/** Counts requests; `reached` resolves once `target` more have been made after `aim`. */
class Counter {
  requests = 0;
  private target = Number.POSITIVE_INFINITY;
  private done: (() => void) | undefined;

  count(): void {
    if (++this.requests >= this.target) this.done?.();
  }

  reached(more: number): Promise<void> {
    this.target = this.requests + more;
    return new Promise((resolve) => {
      this.done = resolve;
    });
  }
}

/** A driver that answers every read at once, on its turn of a pooled connection (as the Modbus driver does). */
function inlineMapper(counter: Counter): ProtocolMapper {
  const opener = { open: async () => ({}), close: async () => {} };
  return {
    schemas: { name: 'inline' } as never,
    timeoutMs: () => 1000,
    createDriver: (context) => {
      let line: SharedConnection<object> | undefined;
      const driver: Driver<unknown, unknown> = {
        async connect() {
          line = await context.connections.acquire('inline', opener);
        },
        read: async (_point, call) => (await driver.readMany!([_point], call))[0] as Reading,
        readMany: (points: Point<unknown>[], call) =>
          line!.exclusive(async () => {
            counter.count();
            const timestamp = Date.now();
            return points.map((): Reading => ({ value: 1, quality: 'good', timestamp }));
          }, abortOf(call)),
        async write() {},
        async close() {
          await line?.release();
          line = undefined;
        },
      };
      return driver;
    },
  };
}

/** Over `seconds`, or, with `requests`, until that many have been made (for instruction counts). */
interface Window {
  seconds: number;
  requests?: number;
}

async function measure(runtimes: DeviceRuntime[], counter: Counter, window: Window) {
  await Promise.all(runtimes.map((r) => r.start()));
  await (window.requests
    ? counter.reached(WARMUP_REQUESTS)
    : new Promise((resolve) => setTimeout(resolve, WARMUP_MS)));
  const before = counter.requests;
  const cpu = process.cpuUsage();
  const start = performance.now();
  await (window.requests
    ? counter.reached(window.requests)
    : new Promise((resolve) => setTimeout(resolve, window.seconds * 1000)));
  const used = process.cpuUsage(cpu);
  const wall = (performance.now() - start) / 1000;
  const total = counter.requests;
  const n = total - before;
  await Promise.all(runtimes.map((r) => r.stop()));
  return { perRequestUs: (used.user + used.system) / n, rate: n / wall, requests: n, total };
}

async function plumbing(devices: number, window: Window) {
  const counter = new Counter();
  const mapper = inlineMapper(counter);
  const connections = new ConnectionPool();
  const bus = new NullBus();
  const runtimes = Array.from(
    { length: devices },
    (_, n) => new DeviceRuntime({ device: device(n, {}) as ResolvedDevice, mapper, bus, connections }),
  );
  return measure(runtimes, counter, window);
}

async function modbus(devices: number, window: Window) {
  const counter = new Counter();
  const line = createModbusLineSimulator(
    Array.from({ length: devices }, (_, n) => device(n, {})),
    {
      onRequest: () => {
        counter.count();
        // The simulator logs every request: keep the log short.
        if (line.requests.length > 1000) line.requests.length = 0;
      },
    },
  );
  const endpoint = await line.start();
  const connections = new ConnectionPool();
  const bus = new NullBus();
  const runtimes = Array.from(
    { length: devices },
    (_, n) =>
      new DeviceRuntime({
        device: device(n, endpoint as Partial<ModbusConfig>) as ResolvedDevice,
        mapper: modbusMapper as never,
        bus,
        connections,
      }),
  );
  try {
    return await measure(runtimes, counter, window);
  } finally {
    await line.stop();
  }
}

export async function benchRuntimeCalls(seconds = 3, devices = 20): Promise<string[]> {
  const only = process.env.BENCH_CALLS_ONLY;
  const requests = Number(process.env.BENCH_CALLS_REQUESTS ?? 0);
  const window: Window = requests > 0 ? { seconds, requests } : { seconds };
  const lines: string[] = [];
  const show = (name: string, r: Awaited<ReturnType<typeof plumbing>>) =>
    lines.push(
      `runtime calls, ${name}: ${r.perRequestUs.toFixed(1)} µs CPU per request, ${r.rate.toFixed(0)} requests/s ` +
        `(${devices} devices × ${PROPERTIES} properties in one request, cycle ${CYCLE_MS} ms; ` +
        `requests ${r.requests} in the window, ${r.total} in all)`,
    );
  if (!only || only === 'plumbing') show('plumbing (no I/O)', await plumbing(devices, window));
  if (!only || only === 'modbus') show('Modbus TCP + in-process simulator', await modbus(devices, window));
  return lines;
}
