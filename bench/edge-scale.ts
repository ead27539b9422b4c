import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ResolvedDevice } from '../device-models/internal.js';
import { edgeConfig } from '../edgecore/config.js';
import { EdgeCore } from '../edgecore/edgecore.js';
import type { DeviceRuntime } from '../sdk/internal.js';

/**
 * How far one edge scales: N Modbus TCP devices × 10 properties, collectCycle and reportCycle 1000 ms, run by
 * an in-process EdgeCore (embedded broker, twin in SQLite, in-process mappers) against `edgetwin sim modbus`
 * in another process (up to 200 devices per endpoint, one slave ID each). After every device is online and a
 * short warm-up, over a window: points read/s, twin updates/s, this process's CPU in cores, the gap between
 * successive reads of one property (p50/p99/max, against the 1000 ms period), RSS; and the start time until
 * every device is online. `BENCH_SCALE=200,1000,2000` picks the sizes (default 200,1000),
 * `BENCH_SCALE_SECONDS` the window (default 20).
 *
 * Devices come in files of BATCH: the first before start, the others one by one into the watched directory.
 * In one file, 1,000 devices make a membership/updated of ~70 KB, over the EventBus's 64 KiB payload limit,
 * and edgecore fails to start.
 */
const PROPERTIES = 10;
const PER_ENDPOINT = 200;
const BASE_PORT = 15020;
const CYCLE_MS = 1000;
const WARMUP_MS = 3000;
const ONLINE_TIMEOUT_MS = 120_000;
const BATCH = 500;

export async function benchEdgeScale(
  sizes = (process.env.BENCH_SCALE ?? '200,1000').split(',').map(Number),
  seconds = Number(process.env.BENCH_SCALE_SECONDS ?? 20),
): Promise<string[]> {
  const lines = [
    `edge scale: Modbus TCP devices × ${PROPERTIES} properties at ${CYCLE_MS} ms, simulators in another process, ${seconds}s window`,
  ];
  for (const size of sizes) lines.push(`  ${await runSize(size, seconds)}`);
  return lines;
}

async function runSize(size: number, seconds: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-scale-'));
  const devicesDir = join(dir, 'devices');
  await mkdir(devicesDir);
  await writeFile(join(devicesDir, 'model.yaml'), modelYaml());
  const batches = Array.from({ length: Math.ceil(size / BATCH) }, (_, b) =>
    devicesYaml(b * BATCH, Math.min(size, (b + 1) * BATCH)),
  );
  const simDir = join(dir, 'sim');
  await mkdir(simDir);
  await writeFile(join(simDir, 'model.yaml'), modelYaml());
  for (const [b, batch] of batches.entries()) await writeFile(join(simDir, `devices-${b}.yaml`), batch);
  await writeFile(join(devicesDir, 'devices-0.yaml'), batches[0]!);
  const sim = await startSim(simDir);
  const edge = new EdgeCore({
    config: edgeConfig({
      dataDir: join(dir, 'data'),
      eventBus: { mode: 'internal', internal: { port: 0 } },
      http: { port: 0 },
      devices: { dirs: [devicesDir], watch: batches.length > 1 },
    }),
    adjustDevice: (d: ResolvedDevice) => {
      const config = d.config as { ip: string; port: number };
      const port = sim.ports.get(`${config.ip}:${config.port}`);
      return port === undefined ? d : { ...d, config: { ...d.config, port } };
    },
  });
  try {
    const startedAt = performance.now();
    await edge.start();
    const host = edge.mapperHost!;
    for (const [b, batch] of batches.entries()) {
      if (b === 0) continue;
      const added = new Promise<void>((resolve) => {
        const onRuntime = () => {
          if (host.runtimes.size < Math.min(size, (b + 1) * BATCH)) return;
          host.off('runtime', onRuntime);
          resolve();
        };
        host.on('runtime', onRuntime);
      });
      await writeFile(join(devicesDir, `devices-${b}.yaml`), batch);
      await added;
    }
    const runtimes = [...edge.mapperHost!.runtimes.values()];
    const online = await allOnline(runtimes);
    const startSeconds = (performance.now() - startedAt) / 1000;
    const onlineText = online
      ? `all online in ${startSeconds.toFixed(1)} s`
      : `${runtimes.filter((r) => r.state === 'online').length}/${size} online after ${startSeconds.toFixed(0)} s`;

    await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
    const window = measure(runtimes);
    const twinBefore = await twinUpdates(edge);
    const cpu = process.cpuUsage();
    const start = performance.now();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const wall = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    const twin = (await twinUpdates(edge)) - twinBefore;
    const { points, gaps } = window.stop();
    const rss = process.memoryUsage().rss / 2 ** 20;
    const q = (p: number) => gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))] ?? Number.NaN;
    return (
      `${size} devices (${size * PROPERTIES} points): ${(points / wall).toFixed(0)} points/s ` +
      `(${((100 * points) / wall / (size * PROPERTIES)).toFixed(0)}% of due), ${(twin / wall).toFixed(0)} twin updates/s, ` +
      `${((used.user + used.system) / 1e6 / wall).toFixed(2)} cores, ` +
      `read gap p50 ${q(0.5).toFixed(0)} / p99 ${q(0.99).toFixed(0)} / max ${(gaps.at(-1) ?? Number.NaN).toFixed(0)} ms ` +
      `(period ${CYCLE_MS}), RSS ${rss.toFixed(0)} MB, ${onlineText}`
    );
  } finally {
    await edge.stop();
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Counts readings and, per property, the gaps between successive ones, until `stop()`. It runs in the edge's
 * own process, so it is kept cheap: a map per device (no key strings built per reading), gaps in a growing
 * Float64Array.
 */
function measure(runtimes: DeviceRuntime[]): { stop(): { points: number; gaps: number[] } } {
  let points = 0;
  let gaps = new Float64Array(1 << 16);
  let count = 0;
  const detach = runtimes.map((runtime) => {
    const last = new Map<string, number>();
    const onReading = (name: string) => {
      const now = performance.now();
      const before = last.get(name);
      if (before !== undefined) {
        if (count === gaps.length) {
          const grown = new Float64Array(gaps.length * 2);
          grown.set(gaps);
          gaps = grown;
        }
        gaps[count++] = now - before;
      }
      last.set(name, now);
      points++;
    };
    runtime.on('reading', onReading);
    return () => runtime.off('reading', onReading);
  });
  return {
    stop() {
      for (const off of detach) off();
      return { points, gaps: Array.from(gaps.subarray(0, count).sort()) };
    },
  };
}

/** Resolves true once every runtime is online, false after ONLINE_TIMEOUT_MS. */
function allOnline(runtimes: DeviceRuntime[]): Promise<boolean> {
  return new Promise((resolve) => {
    const waiting = new Set(runtimes.filter((r) => r.state !== 'online'));
    if (waiting.size === 0) return resolve(true);
    const offs = [...waiting].map((runtime) => {
      const onState = (state: string) => {
        if (state !== 'online') return;
        waiting.delete(runtime);
        if (waiting.size === 0) done(true);
      };
      runtime.on('state', onState);
      return () => runtime.off('state', onState);
    });
    const timer = setTimeout(() => done(false), ONLINE_TIMEOUT_MS);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      for (const off of offs) off();
      resolve(ok);
    };
  });
}

async function twinUpdates(edge: EdgeCore): Promise<number> {
  const { values } = await edge.metrics.twinUpdates.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

interface Sim {
  /** The port each endpoint of the YAML (`ip:port`) is served on. */
  ports: Map<string, number>;
  stop(): Promise<void>;
}

/** `edgetwin sim modbus <dir> --port 0` in another process; resolves once it has printed every endpoint. */
async function startSim(devicesDir: string): Promise<Sim> {
  const main = fileURLToPath(new URL('../edgecore/cli/main.js', import.meta.url));
  const child = spawn(process.execPath, [main, 'sim', 'modbus', devicesDir, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let lastError = '';
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (!line.startsWith('{')) lastError = line; // its pino log lines are JSON; a refusal is plain text
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ports = new Map<string, number>();
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`edgetwin sim modbus exited with ${code}: ${lastError}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const served = /^modbus TCP ([^ ]+:\d+)[ :].*a mapper reaches it with (\{.*\})$/.exec(line);
      if (served) ports.set(served[1]!, (JSON.parse(served[2]!) as { port: number }).port);
      if (line.startsWith('Ctrl-C stops')) resolve();
    });
  });
  try {
    await ready;
  } catch (error) {
    await stopChild(child, exited);
    throw error;
  }
  return { ports, stop: () => stopChild(child, exited) };
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
  await exited;
}

function modelYaml(): string {
  const properties = Array.from(
    { length: PROPERTIES },
    (_, i) => `    - name: p${i}
      type: INT
      accessMode: ReadOnly`,
  );
  return `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: scale-model
  namespace: default
spec:
  protocol: modbus
  properties:
${properties.join('\n')}
`;
}

/** Devices `from` to `to - 1`, each at 127.0.0.1:BASE_PORT + n / PER_ENDPOINT with its own slave ID. */
function devicesYaml(from: number, to: number): string {
  const properties = Array.from(
    { length: PROPERTIES },
    (_, i) => `    - name: p${i}
      collectCycle: ${CYCLE_MS}
      reportCycle: ${CYCLE_MS}
      reportToCloud: true
      visitors:
        protocolName: modbus
        configData:
          register: HoldingRegister
          offset: ${i}
          limit: 1
          dataType: int16`,
  ).join('\n');
  return Array.from({ length: to - from }, (_, i) => from + i)
    .map(
      (n) => `apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: dev-${n}
  namespace: default
spec:
  deviceModelRef:
    name: scale-model
  nodeName: edge-node-1
  protocol:
    protocolName: modbus
    configData:
      communicateMode: TCP
      ip: 127.0.0.1
      port: ${BASE_PORT + Math.floor(n / PER_ENDPOINT)}
      slaveID: ${(n % PER_ENDPOINT) + 1}
      timeout: 1000
  properties:
${properties}
`,
    )
    .join('---\n');
}
