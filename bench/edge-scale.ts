import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Modbus from 'modbus-serial';
import { type ReadyChild, startChild, stopChild } from '../test/support/child.js';
import { cpuSeconds, shebangFlags } from './rss.js';

/**
 * How far one edge scales: N Modbus TCP devices × 10 properties, collectCycle and reportCycle 1000 ms, run by
 * `edgetwin edge` in a process of its own as the installed command runs it (embedded broker, twin in SQLite,
 * in-process mappers), against the simulated devices in a third process (bench/edge-scale-sim.ts: up to 200
 * devices per endpoint, one slave ID each). After every device is online and a short warm-up, over a window:
 * points read/s and the gap between successive requests of one device as the simulator sees them
 * (p50/p99/max, against the 1000 ms period), twin updates/s (the edge's /metrics), the edge process's own CPU
 * in cores and its RSS (/proc); and the start time until every device is online (polled on the HTTP API).
 * Nothing of the benchmark's own bookkeeping runs in the edge's process. Then, the edge stopped, the same reads
 * by modbus-serial alone (rawReads): the floor on this machine, and the edge's CPU as a multiple of it. `BENCH_SCALE=200,1000,2000` picks
 * the sizes (default 200,1000), `BENCH_SCALE_SECONDS` the window (default 20), `BENCH_EDGE_NODE_ARGS` more
 * Node options for the edge's process alone (e.g. `--cpu-prof --cpu-prof-dir=prof`, which NODE_OPTIONS refuses).
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
const MAIN = fileURLToPath(new URL('../edgecore/cli/main.js', import.meta.url));
const EDGE_NODE_ARGS = (process.env.BENCH_EDGE_NODE_ARGS ?? '').split(' ').filter(Boolean);
const SIM = fileURLToPath(new URL('./edge-scale-sim.js', import.meta.url));

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
  const simDir = join(dir, 'sim');
  await mkdir(simDir);
  await writeFile(join(simDir, 'model.yaml'), modelYaml());
  await writeFile(join(devicesDir, 'model.yaml'), modelYaml());
  for (const [b, batch] of devicesYaml(0, size, BATCH).entries())
    await writeFile(join(simDir, `devices-${b}.yaml`), batch);
  const sim = await startSim(simDir);
  const batches = devicesYaml(0, size, BATCH, sim.ports);
  await writeFile(join(devicesDir, 'devices-0.yaml'), batches[0]!);
  const config = join(dir, 'edge.yaml');
  await writeFile(
    config,
    `dataDir: ${join(dir, 'data')}\neventBus: {mode: internal, internal: {port: 0}}\nhttp: {port: 0}\n` +
      `devices: {dirs: [${devicesDir}], watch: ${batches.length > 1}}\n`,
  );
  let edge: ReadyChild | undefined;
  try {
    const startedAt = performance.now();
    // As the installed `edgetwin` command runs it: with the Node options of its shebang.
    edge = await startChild(
      process.execPath,
      [...shebangFlags(MAIN), ...EDGE_NODE_ARGS, MAIN, 'edge', '--config', config],
      /, http (http:\/\/\S+)/,
      { timeoutMs: ONLINE_TIMEOUT_MS },
    );
    const api = edge.match[1]!;
    for (const [b, batch] of batches.entries()) {
      if (b === 0) continue;
      await writeFile(join(devicesDir, `devices-${b}.yaml`), batch);
      await until(async () => (await devicesOf(api)).length >= Math.min(size, (b + 1) * BATCH));
    }
    const online = await until(
      async () => (await devicesOf(api)).filter((d) => d.state === 'online').length === size,
    );
    const startSeconds = (performance.now() - startedAt) / 1000;
    const onlineText = online
      ? `all online in ${startSeconds.toFixed(1)} s`
      : `${(await devicesOf(api)).filter((d) => d.state === 'online').length}/${size} online after ${startSeconds.toFixed(0)} s`;

    await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
    const pid = edge.child.pid!;
    const twinBefore = await twinUpdates(api);
    await sim.ask('reset');
    const cpu = cpuSeconds(pid);
    const start = performance.now();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const used = cpuSeconds(pid) - cpu;
    const stats = JSON.parse(await sim.ask('stats')) as SimStats;
    const wall = (performance.now() - start) / 1000;
    const twin = (await twinUpdates(api)) - twinBefore;
    const rss = rssOf(pid) / 2 ** 20;
    await stopChild(edge.child);
    edge = undefined;
    const raw = await rawReads(sim, size, seconds);
    const cores = used / wall;
    return (
      `${size} devices (${size * PROPERTIES} points): ${(stats.registers / wall).toFixed(0)} points/s ` +
      `(${((100 * stats.registers) / wall / (size * PROPERTIES)).toFixed(0)}% of due), ${(twin / wall).toFixed(0)} twin updates/s, ` +
      `${cores.toFixed(2)} cores, ` +
      `read gap p50 ${stats.p50.toFixed(0)} / p99 ${stats.p99.toFixed(0)} / max ${stats.max.toFixed(0)} ms ` +
      `(period ${CYCLE_MS}), RSS ${rss.toFixed(0)} MB, ${onlineText}; ` +
      `the same reads by modbus-serial alone: ${raw.cores.toFixed(2)} cores (${raw.pointsPerSecond.toFixed(0)} points/s), ` +
      `edge/raw ${(cores / raw.cores).toFixed(1)}`
    );
  } finally {
    if (edge) await stopChild(edge.child);
    await sim.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The floor under the edge's CPU, measured on this machine in the same run: the same reads (one request of
 * PROPERTIES holding registers per device and period, one connection per endpoint, one request at a time on
 * it, each device at its own place in the period) made by modbus-serial alone from this process, nothing done
 * with the answers. What the edge costs beyond it is the runtime, the twin, SQLite and the history.
 */
async function rawReads(
  sim: Sim,
  size: number,
  seconds: number,
): Promise<{ cores: number; pointsPerSecond: number }> {
  const lines: { client: InstanceType<typeof Modbus.default>; tail: Promise<void> }[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    for (let first = 0; first < size; first += PER_ENDPOINT) {
      const client = new Modbus.default();
      const port = sim.ports.get(`127.0.0.1:${BASE_PORT + first / PER_ENDPOINT}`)!;
      await client.connectTCP('127.0.0.1', { port });
      client.setTimeout(CYCLE_MS);
      lines.push({ client, tail: Promise.resolve() });
    }
    for (let n = 0; n < size; n++) {
      const line = lines[Math.floor(n / PER_ENDPOINT)]!;
      const unit = (n % PER_ENDPOINT) + 1;
      const read = () => {
        line.tail = line.tail
          .then(() => {
            line.client.setID(unit);
            return line.client.readHoldingRegisters(0, PROPERTIES);
          })
          .then(
            () => {},
            () => {},
          );
      };
      timers.push(setTimeout(() => timers.push(setInterval(read, CYCLE_MS)), (n * CYCLE_MS) / size));
    }
    await new Promise((resolve) => setTimeout(resolve, WARMUP_MS));
    await sim.ask('reset');
    const before = process.cpuUsage();
    const start = performance.now();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const used = process.cpuUsage(before);
    const wall = (performance.now() - start) / 1000;
    const stats = JSON.parse(await sim.ask('stats')) as SimStats;
    return { cores: (used.user + used.system) / 1e6 / wall, pointsPerSecond: stats.registers / wall };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    for (const { client } of lines) await new Promise<void>((resolve) => client.close(() => resolve()));
  }
}

interface SimStats {
  requests: number;
  registers: number;
  units: number;
  p50: number;
  p99: number;
  max: number;
}

const rssOf = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

async function devicesOf(api: string): Promise<{ state: string }[]> {
  return (await (await fetch(`${api}/api/v1/devices`)).json()) as { state: string }[];
}

/** Polls `check` every 250 ms (start-up only, outside the measured window) until true, or ONLINE_TIMEOUT_MS. */
async function until(check: () => Promise<boolean>): Promise<boolean> {
  const deadline = performance.now() + ONLINE_TIMEOUT_MS;
  while (performance.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}

async function twinUpdates(api: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^edgetwin_twin_updates_total(?:\{[^}]*\})? (\S+)$/gm)) sum += Number(m[1]);
  return sum;
}

interface Sim {
  /** The port each endpoint of the YAML (`ip:port`) is served on. */
  ports: Map<string, number>;
  /** Sends a command (`reset`, `stats`) and resolves with its one-line answer. */
  ask(command: string): Promise<string>;
  stop(): Promise<void>;
}

/** bench/edge-scale-sim.js in another process; resolves once it has printed every endpoint. */
async function startSim(devicesDir: string): Promise<Sim> {
  const child = spawn(process.execPath, [SIM, devicesDir], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ports = new Map<string, number>();
  const answers: ((line: string) => void)[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`edge-scale-sim exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const served = /^endpoint (\S+) (\d+)$/.exec(line);
      if (served) ports.set(served[1]!, Number(served[2]));
      else if (line === 'ready') resolve();
      else answers.shift()?.(line);
    });
  });
  const stop = async () => {
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await ready;
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    ports,
    ask: (command) =>
      new Promise((resolve) => {
        answers.push(resolve);
        child.stdin!.write(`${command}\n`);
      }),
    stop,
  };
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

/**
 * Devices `from` to `to - 1` in files of `batch`, each at 127.0.0.1:BASE_PORT + n / PER_ENDPOINT with its own
 * slave ID; with `ports`, each endpoint at the port the simulator serves it on.
 */
function devicesYaml(from: number, to: number, batch: number, ports?: Map<string, number>): string[] {
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
  const device = (n: number) => {
    const endpoint = BASE_PORT + Math.floor(n / PER_ENDPOINT);
    const port = ports?.get(`127.0.0.1:${endpoint}`) ?? endpoint;
    return `apiVersion: devices.kubeedge.io/v1beta1
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
      port: ${port}
      slaveID: ${(n % PER_ENDPOINT) + 1}
      timeout: 1000
  properties:
${properties}
`;
  };
  const files: string[] = [];
  for (let first = from; first < to; first += batch)
    files.push(
      Array.from({ length: Math.min(batch, to - first) }, (_, i) => device(first + i)).join('---\n'),
    );
  return files;
}
