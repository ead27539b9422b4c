import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MsgTwin } from '../device-models/index.js';
import { TwinStore, type TwinStoreOptions } from '../twin/store.js';

/**
 * What the history of reported values (twin/store-history.ts) costs the twin store, with history at its
 * defaults against history off (`maxPoints: 0`), in the same run, alternating:
 * - throughput: `write()` of one reported value each, WINDOW in flight, over DEVICES devices (the README's
 *   "twin store alone" figure);
 * - the edge at scale: SCALE_DEVICES × 10 properties reporting every second, as writeBehind commits them
 *   (a group commit every 200 ms holding 5 reports of each device due), simulated as fast as it goes: the
 *   CPU and the bytes written (`/proc/self/io` wchar: WAL, checkpoints) per simulated second, and the heap
 *   after gc; then with every twin's ring full (maxPoints RING_POINTS), old chunks dropped as new ones come;
 * - size: bytes per point on disk after FILL_POINTS points of FILL_TWINS twins, extrapolated to
 *   1,000 devices × 10 properties × 10,000 points.
 * `node --expose-gc dist/bench/twin-history.js` (after `npm run build`); BENCH_SECONDS per throughput figure.
 */
const DEVICES = 100;
const WINDOW = 1000;
const SCALE_DEVICES = Number(process.env.BENCH_HISTORY_DEVICES ?? 1000);
const PROPERTIES = 10;
const PERIOD_S = 5;
/** writeBehind's ticks in a period (200 ms each). */
const HELD_TICKS = 25;
const SCALE_PERIODS = Number(process.env.BENCH_HISTORY_PERIODS ?? 60);
const FILL_TWINS = 200;
const FILL_POINTS = 10_000;

const RING_POINTS = 500;
const OFF: TwinStoreOptions = { history: { maxPoints: 0 } };
const ON: TwinStoreOptions = {};
const RING: TwinStoreOptions = { history: { maxPoints: RING_POINTS } };

const ids = (n: number) => Array.from({ length: n }, (_, d) => `default/dev-${d}`);

/** A reported value as the twin module hands it over. */
const reported = (value: string, t: number): MsgTwin => ({
  actual: { value, metadata: { timestamp: t } },
  metadata: { type: 'float' },
  actual_version: { cloud: 0, edge: 1 },
});

/** A temperature-like reading of property p at second s. */
const reading = (d: number, p: number, s: number) => (20 + ((d * 7 + p * 13 + s) % 100) / 10).toFixed(1);

function wchar(): number {
  const io = readFileSync('/proc/self/io', 'utf8');
  return Number(/wchar: (\d+)/.exec(io)?.[1] ?? 0);
}

async function withStore<T>(options: TwinStoreOptions, devices: string[], run: (s: TwinStore) => Promise<T>) {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-history-bench-'));
  const file = join(dir, 'twin.db');
  const store = TwinStore.open(file, { writeBehindMs: 0, ...options });
  try {
    for (const id of devices) store.upsertDevice({ id });
    const result = await run(store);
    store.close();
    return { result, bytes: statSync(file).size };
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** write() updates/s and µs of CPU each, for `seconds`. */
async function throughput(options: TwinStoreOptions, seconds: number) {
  const devices = ids(DEVICES);
  const { result } = await withStore(options, devices, async (store) => {
    let n = 0;
    const cpu = process.cpuUsage();
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) {
      const writes: Promise<void>[] = [];
      for (let i = 0; i < WINDOW; i++, n++)
        writes.push(store.write(devices[n % DEVICES]!, { temp: reported(String(n % 997), Date.now()) }));
      await Promise.all(writes);
    }
    const elapsed = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    return { rate: n / elapsed, cpu: (used.user + used.system) / n };
  });
  return result;
}

/**
 * The scale run: CPU (cores) and bytes written per simulated second over the last `periods - warmup`
 * periods; a `maxPoints` of RING_POINTS has each twin's ring full (dropping old chunks) by then.
 */
async function scale(options: TwinStoreOptions, periods = SCALE_PERIODS, warmup = Math.ceil(periods / 4)) {
  const devices = ids(SCALE_DEVICES);
  const { result } = await withStore(options, devices, async (store) => {
    let second = 0;
    let worst = 0;
    const base = Date.now() - periods * PERIOD_S * 1000;
    // writeBehind commits each device's reports when they are due, one group commit per HELD_TICKS of the
    // period: so does this, each group of devices in a commit of its own.
    const period = async () => {
      for (let tick = 0; tick < HELD_TICKS; tick++) {
        const start = performance.now();
        const writes: Promise<void>[] = [];
        for (let s = 0; s < PERIOD_S; s++)
          for (let d = tick; d < devices.length; d += HELD_TICKS) {
            const twins: Record<string, MsgTwin> = {};
            const at = second + s;
            for (let p = 0; p < PROPERTIES; p++)
              twins[`p${p}`] = reported(reading(d, p, at), base + at * 1000);
            writes.push(store.write(devices[d]!, twins));
          }
        await Promise.all(writes);
        worst = Math.max(worst, performance.now() - start);
      }
      second += PERIOD_S;
    };
    for (let i = 0; i < warmup; i++) await period();
    const cpu = process.cpuUsage();
    const written = wchar();
    worst = 0;
    for (let i = warmup; i < periods; i++) await period();
    const used = process.cpuUsage(cpu);
    const seconds = (periods - warmup) * PERIOD_S;
    (globalThis as { gc?: () => void }).gc?.();
    return {
      cores: (used.user + used.system) / 1e6 / seconds,
      bytesPerSecond: (wchar() - written) / seconds,
      worstTickMs: worst,
      heapMb: process.memoryUsage().heapUsed / 1e6,
    };
  });
  return result;
}

/** The file's size after FILL_POINTS points of FILL_TWINS twins (and after close, which moves the log into chunks). */
async function fill(options: TwinStoreOptions) {
  const devices = ids(FILL_TWINS / PROPERTIES);
  const base = Date.now() - FILL_POINTS * 1000;
  const { bytes } = await withStore(options, devices, async (store) => {
    for (let s = 0; s < FILL_POINTS; s += 50) {
      const writes: Promise<void>[] = [];
      for (let k = s; k < s + 50; k++)
        for (const [d, id] of devices.entries()) {
          const twins: Record<string, MsgTwin> = {};
          for (let p = 0; p < PROPERTIES; p++)
            twins[`p${p}`] = reported(reading(d, p, k), base + k * 1000 + ((d + p + k) % 7));
          writes.push(store.write(id, twins));
        }
      await Promise.all(writes);
    }
  });
  return bytes;
}

export async function benchTwinHistory(seconds = Number(process.env.BENCH_SECONDS ?? 3)): Promise<string[]> {
  const lines: string[] = [];
  const rates = { off: [] as number[], on: [] as number[] };
  const cpus = { off: [] as number[], on: [] as number[] };
  await throughput(ON, 1); // warm-up: JIT
  for (let round = 0; round < 3; round++)
    for (const [key, options] of [
      ['off', OFF],
      ['on', ON],
    ] as const) {
      const { rate, cpu } = await throughput(options, seconds);
      rates[key].push(rate);
      cpus[key].push(cpu);
    }
  const range = (xs: number[], f = (x: number) => (x / 1000).toFixed(1)) =>
    `${f(Math.min(...xs))}–${f(Math.max(...xs))}`;
  lines.push(
    `twin store alone, write() of one reported value, ${WINDOW} in flight, ${DEVICES} devices (3 runs each): ` +
      `history off ${range(rates.off)}k updates/s (${range(cpus.off, (x) => x.toFixed(1))} µs CPU each), ` +
      `on ${range(rates.on)}k/s (${range(cpus.on, (x) => x.toFixed(1))} µs)`,
  );
  const ringPeriods = Math.ceil((RING_POINTS * 2.2) / PERIOD_S);
  for (const [key, run] of [
    ['off', () => scale(OFF)],
    ['on', () => scale(ON)],
    ['off', () => scale(OFF)],
    ['on', () => scale(ON)],
    [`on, ring of ${RING_POINTS} full`, () => scale(RING, ringPeriods, Math.ceil(ringPeriods * 0.6))],
  ] as const) {
    const s = await run();
    lines.push(
      `${SCALE_DEVICES} devices × ${PROPERTIES} properties every second, ${PERIOD_S} s write-behind commits, history ${key}: ` +
        `${s.cores.toFixed(3)} cores, ${(s.bytesPerSecond / 1e6).toFixed(2)} MB/s written, ` +
        `longest commit ${s.worstTickMs.toFixed(0)} ms, heap ${s.heapMb.toFixed(0)} MB`,
    );
  }
  const off = await fill(OFF);
  const on = await fill(ON);
  const points = FILL_TWINS * FILL_POINTS;
  const perPoint = (on - off) / points;
  lines.push(
    `size: ${FILL_TWINS} twins × ${FILL_POINTS} points: ${(on / 1e6).toFixed(1)} MB (twins alone ${(off / 1e6).toFixed(1)} MB), ` +
      `${perPoint.toFixed(1)} bytes per point → 1,000 devices × 10 properties × 10,000 points ≈ ` +
      `${((perPoint * 1e8) / 1e9).toFixed(2)} GB`,
  );
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const line of await benchTwinHistory()) console.log(line);
}
