import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mallocHeap, spawnEdge, startModbusFleet, writeEdgeConfig } from './rss.js';

/**
 * `npm run soak`: `edgetwin edge` with 100 Modbus TCP devices (simulators in this process) for SOAK_MINUTES
 * (default 10), polled every SOAK_CYCLE_MS (default 1000). Every 30 s it prints the edge's RSS and heap (as
 * is, and after a full gc), malloc's own heap (`[heap]` in /proc/<pid>/smaps: memory outside V8, such as
 * SQLite's and the sockets'), and the requests the simulators served; at the end, the slope of each.
 */

const minutes = Number(process.env.SOAK_MINUTES ?? 10);
const cycleMs = Number(process.env.SOAK_CYCLE_MS ?? 1000);
const devices = Number(process.env.SOAK_DEVICES ?? 100);
const INTERVAL_MS = 30_000;
const MB = 1024 * 1024;
const f = (bytes: number) => (bytes / MB).toFixed(1).padStart(6);

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

const dir = await mkdtemp(join(tmpdir(), 'edgetwin-soak-'));
const fleet = await startModbusFleet(join(dir, 'fleet'), devices, cycleMs);
const edge = await spawnEdge(await writeEdgeConfig(dir, [fleet.dir]));
// Stopped early (Ctrl-C, kill): the edge is a process of its own and must not outlive the soak.
for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    void Promise.allSettled([edge.stop(), fleet.stop()])
      .then(() => rm(dir, { recursive: true, force: true }))
      .finally(() => process.exit(130));
  });
console.log(
  `soak: edge pid ${edge.process.pid}, ${devices} Modbus devices, ${cycleMs} ms cycles, ${minutes} min`,
);
console.log('   min  rss MB  heap MB  heap after gc MB  malloc MB  requests/s');
const start = Date.now();
const rss: [number, number][] = [];
const heap: [number, number][] = [];
const malloc: [number, number][] = [];
let requests = 0;
try {
  for (let t = INTERVAL_MS; t <= minutes * 60_000; t += INTERVAL_MS) {
    await new Promise((resolve) => setTimeout(resolve, start + t - Date.now()));
    const served = fleet.drain();
    requests += served;
    const now = await edge.memory();
    const collected = await edge.memory(true);
    const at = t / 60_000;
    rss.push([at, now.rss]);
    heap.push([at, collected.heapUsed]);
    const brk = mallocHeap(edge.process.pid!);
    malloc.push([at, brk]);
    console.log(
      `${at.toFixed(1).padStart(6)}  ${f(now.rss)}  ${f(now.heapUsed)}  ${f(collected.heapUsed).padStart(16)}  ${f(brk).padStart(9)}  ${Math.round(served / (INTERVAL_MS / 1000))}`,
    );
  }
  // From the second minute on: the first is warm-up (JIT, pools, SQLite cache).
  const settled = (points: [number, number][]) => points.filter(([at]) => at >= 1);
  const rssValues = settled(rss).map(([, v]) => v);
  console.log(
    `soak: ${requests} requests; from minute 1: rss ${f(Math.min(...rssValues))}–${f(Math.max(...rssValues))} MB, ` +
      `slope rss ${(slope(settled(rss)) / 1024).toFixed(0)} KB/min, heap after gc ${(slope(settled(heap)) / 1024).toFixed(0)} KB/min, ` +
      `malloc ${(slope(settled(malloc)) / 1024).toFixed(0)} KB/min`,
  );
} finally {
  await edge.stop();
  await fleet.stop();
  await rm(dir, { recursive: true, force: true });
}
