import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import {
  loadDevices,
  type ModbusConfig,
  type ModbusVisitor,
  type ResolvedDevice,
  samplesDir,
} from '../device-models/internal.js';
import { createModbusSimulator, type ModbusSimulator } from '../mappers/modbus/simulator.js';

/**
 * Resident memory of the edge, each case its own child process: a bare Node process, `edgetwin edge` with no
 * devices, with 100 Modbus TCP devices (simulators in this process), and with every protocol's mapper loaded
 * (the sample devices, no simulators: the stacks are loaded, the devices retry). Then what each library the
 * edge loads costs alone. Also the helpers `npm run soak` uses.
 */

const MB = 1024 * 1024;
const mb = (bytes: number) => `${(bytes / MB).toFixed(0)} MB`;
export const EDGETWIN_BIN =
  process.env.BENCH_RSS_BIN ?? fileURLToPath(new URL('../edgecore/cli/main.js', import.meta.url));

/**
 * The resident bytes of a process's `[heap]` mapping (glibc malloc's main arena: memory outside V8, such as
 * SQLite's page cache), 0 when unreadable. `pid` 'self' for this process.
 */
export function mallocHeap(pid: number | 'self'): number {
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const at = smaps.indexOf(' [heap]\n');
  const rss = at < 0 ? undefined : /\nRss:\s+(\d+) kB/.exec(smaps.slice(at))?.[1];
  return Number(rss ?? 0) * 1024;
}

/** Loaded into each child with --import: answers `mem` (or `gc`, collecting first) with process.memoryUsage(). */
const REPORTER = `data:text/javascript,${encodeURIComponent(
  "process.on('message',(m)=>{if(m==='gc'&&globalThis.gc)globalThis.gc();process.send?.(process.memoryUsage())})",
)}`;

/** A child's own CPU time (user + system), seconds, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command; in clock ticks (100 per second).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export interface Child {
  process: ChildProcess;
  memory(gc?: boolean): Promise<NodeJS.MemoryUsage>;
  stop(): Promise<void>;
}

/** Runs `node [--import reporter] args…`; resolves once `ready` (a line on stderr) is seen, if given. */
export async function spawnNode(args: string[], ready?: RegExp, env: NodeJS.ProcessEnv = {}): Promise<Child> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', REPORTER, ...args], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
  });
  let stderr = '';
  const exited = once(child, 'exit');
  if (ready)
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
        if (ready.test(stderr)) {
          child.stderr!.off('data', onData);
          child.stderr!.resume();
          resolve();
        }
      };
      child.stderr!.on('data', onData);
      exited.then(() => reject(new Error(`${args.join(' ')} exited before it was ready: ${stderr}`)));
    });
  else child.stderr!.resume();
  return {
    process: child,
    async memory(gc = false) {
      const answer = once(child, 'message');
      child.send(gc ? 'gc' : 'mem');
      return (await answer)[0] as NodeJS.MemoryUsage;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.disconnect();
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A scratch directory with edge.yaml (port 0 everywhere) reading `deviceDirs`; returns the config path. */
export async function writeEdgeConfig(dir: string, deviceDirs: string[]): Promise<string> {
  const file = join(dir, 'edge.yaml');
  const config = {
    nodeName: 'edge-node-1',
    dataDir: join(dir, 'data'),
    eventBus: { internal: { port: 0 } },
    http: { port: 0 },
    devices: { dirs: deviceDirs, watch: false },
  };
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

/** The Node options on the `#!/usr/bin/env -S node …` line of `bin`: what the installed `edgetwin` runs with. */
export function shebangFlags(bin: string): string[] {
  const first = readFileSync(bin, 'utf8').split('\n', 1)[0] ?? '';
  const match = /^#!\S*env\s+(?:-S\s+)?node\s+(.*)$/.exec(first);
  return match ? match[1]!.trim().split(/\s+/) : [];
}

/**
 * Starts `edgetwin edge --config <file>`, with the Node options of its bin (and `env`, e.g. EDGETWIN_… fields),
 * and waits until it serves.
 */
export function spawnEdge(config: string, env: NodeJS.ProcessEnv = {}): Promise<Child> {
  return spawnNode(
    [...shebangFlags(EDGETWIN_BIN), EDGETWIN_BIN, 'edge', '--config', config],
    /edgecore \S+: broker/,
    env,
  );
}

type ModbusDevice = ResolvedDevice<ModbusConfig, ModbusVisitor>;

export interface ModbusFleet {
  /** The directory holding the thermostat model and the `count` Devices, each naming its simulator. */
  dir: string;
  /** Requests the simulators received since the last call. */
  drain(): number;
  stop(): Promise<void>;
}

/**
 * `count` copies of the sample Modbus TCP thermostat, each with its own simulator on a free port of this
 * process, polled every `cycleMs`; written as YAML into `dir/devices`.
 */
export async function startModbusFleet(dir: string, count: number, cycleMs: number): Promise<ModbusFleet> {
  const sample = join(samplesDir(), 'modbus-tcp-thermostat.yaml');
  const [model, device] = parseAllDocuments(await readFile(sample, 'utf8')).map((d) => d.toJS());
  const { devices } = await loadDevices([sample]);
  const resolved = devices[0] as ModbusDevice;
  const simulators: ModbusSimulator[] = [];
  const docs = [JSON.stringify(model)];
  for (let i = 0; i < count; i++) {
    const simulator = createModbusSimulator(resolved, { transport: { kind: 'tcp', port: 0 }, seed: i });
    simulators.push(simulator);
    const { port } = await simulator.start();
    const copy = structuredClone(device);
    copy.metadata.name = `thermostat-${String(i).padStart(3, '0')}`;
    copy.spec.protocol.configData.port = port;
    for (const property of copy.spec.properties) {
      property.collectCycle = cycleMs;
      property.reportCycle = cycleMs;
    }
    docs.push(JSON.stringify(copy));
  }
  const devicesDir = join(dir, 'devices');
  await mkdir(devicesDir, { recursive: true });
  await writeFile(join(devicesDir, 'fleet.yaml'), docs.join('\n---\n'));
  return {
    dir: devicesDir,
    drain() {
      let n = 0;
      for (const simulator of simulators) {
        n += simulator.requests.length;
        simulator.requests.length = 0;
      }
      return n;
    },
    stop: async () => {
      await Promise.all(simulators.map((s) => s.stop()));
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** RSS of a fresh Node process right after importing `specifiers` (from this package's node_modules). */
async function importCost(specifiers: string[]): Promise<number> {
  const code = `${specifiers.map((s) => `await import(${JSON.stringify(s)});`).join('')}process.send(process.memoryUsage().rss);process.disconnect();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const [rss] = (await once(child, 'message')) as [number];
  await once(child, 'exit');
  return rss;
}

const here = (path: string) => new URL(path, import.meta.url).href;

/** What each library of the edge costs alone, over a bare process (RSS right after import). */
async function moduleCosts(): Promise<string[]> {
  const bare = await importCost([]);
  const cases: [string, string[]][] = [
    ['mqtt', ['mqtt']],
    ['aedes', ['aedes']],
    ['better-sqlite3', ['better-sqlite3']],
    ['ajv + device-model schemas', [here('../device-models/internal.js')]],
    ['pino', ['pino']],
    ['prom-client', ['prom-client']],
    ['modbus-serial', ['modbus-serial']],
    ['the edge module (edgecore.js)', [here('../edgecore/edgecore.js')]],
    ['node-opcua-client', ['node-opcua-client']],
    ['@kubernetes/client-node (cloud only)', ['@kubernetes/client-node']],
  ];
  const lines = [`rss import cost: bare node ${mb(bare)}`];
  for (const [name, specifiers] of cases) {
    const rss = await importCost(specifiers);
    lines.push(`rss import cost: ${name} ${mb(rss)} (+${mb(rss - bare)})`);
  }
  return lines;
}

/**
 * `npm run bench` figures: RSS at `seconds` of each case (run side by side) and its CPU share over that time,
 * then the import costs. The 100-device edge runs twice: as installed (memory.saver auto) and with the saver off.
 */
export async function benchRss(seconds = Number(process.env.BENCH_RSS_SECONDS ?? 60)): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-rss-'));
  const fleet = await startModbusFleet(join(dir, 'fleet'), 100, 1000);
  const cases: [string, () => Promise<Child>][] = [
    ['bare node', () => spawnNode(['-e', 'setInterval(() => {}, 1 << 30)'])],
    [
      'edge, no devices',
      async () => spawnEdge(await writeEdgeConfig(await mkdtemp(join(dir, 'empty-')), [join(dir, 'none')])),
    ],
    [
      'edge, 100 Modbus TCP devices (1 s cycles)',
      async () => spawnEdge(await writeEdgeConfig(await mkdtemp(join(dir, 'fleet-')), [fleet.dir])),
    ],
    [
      'the same, memory.saver off',
      async () =>
        spawnEdge(await writeEdgeConfig(await mkdtemp(join(dir, 'fleet-')), [fleet.dir]), {
          EDGETWIN_MEMORY__SAVER: 'off',
        }),
    ],
    [
      'edge, every protocol (the samples: modbus, opcua, ble, serial)',
      async () => spawnEdge(await writeEdgeConfig(await mkdtemp(join(dir, 'all-')), [samplesDir()])),
    ],
  ];
  const lines: string[] = [];
  try {
    const children = await Promise.all(cases.map(([, start]) => start()));
    const started = performance.now();
    const cpu = children.map((c) => cpuSeconds(c.process.pid!));
    await sleep(seconds * 1000);
    const memories = await Promise.all(children.map((c) => c.memory()));
    const elapsed = (performance.now() - started) / 1000;
    const cores = children.map((c, i) => (cpuSeconds(c.process.pid!) - cpu[i]!) / elapsed);
    await Promise.all(children.map((c) => c.stop()));
    cases.forEach(([name], i) => {
      const m = memories[i]!;
      lines.push(
        `rss at ${seconds}s: ${name}: ${mb(m.rss)} (heap used ${mb(m.heapUsed)}; ${cores[i]!.toFixed(3)} cores)`,
      );
    });
    lines.push(...(await moduleCosts()));
  } finally {
    await fleet.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const line of await benchRss()) console.log(line);
}
