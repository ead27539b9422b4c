import { type ChildProcess, execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild, stopChild } from '../test/support/child.js';

/**
 * The box's figures: the gateway bundle's size without and with --with-node (and how long each takes to
 * build), how long install.sh takes (into a temporary root, no systemd), and the resident memory of the
 * installed edge — started from the installed tree as the unit starts it — reading the Modbus TCP sample
 * from `edgetwin sim modbus` (also the installed one), at 30 s and 60 s (BENCH_BUNDLE_RSS_SECONDS=30,60).
 */
const BIN = fileURLToPath(new URL('../edgecore/cli/main.js', import.meta.url));
const SAMPLES = fileURLToPath(new URL('../../device-models/samples/', import.meta.url));
const MB = 1024 * 1024;

function run(file: string, args: string[], timeout = 300_000): Promise<{ ms: number; stdout: string }> {
  const started = Date.now();
  return new Promise((resolve, reject) =>
    execFile(file, args, { timeout, maxBuffer: 16 * MB }, (error, stdout, stderr) =>
      error
        ? reject(new Error(`${file} ${args.join(' ')}: ${error.message}\n${stderr}`))
        : resolve({ ms: Date.now() - started, stdout }),
    ),
  );
}

/** Children as the service runs them: Node's young generation kept small. */
const OPTIONS = { timeoutMs: 30_000, env: { NODE_OPTIONS: '--max-semi-space-size=4' } };

const rssOf = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

export async function benchBundle(): Promise<string[]> {
  const lines: string[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-bench-bundle-'));
  const children: ChildProcess[] = [];
  try {
    // the gateway: the Modbus TCP sample, served by the simulator on a free port
    const root = join(dir, 'root');
    const devices = join(dir, 'devices');
    await mkdir(devices);
    const config = join(dir, 'edge.yaml');
    await writeFile(
      config,
      `dataDir: ${root}/var/lib/edgetwin\neventBus: {internal: {port: 0}}\nhttp: {port: 0}\ndevices: {dirs: [${root}/etc/edgetwin/devices], watch: false}\n`,
    );
    const thermostat = join(SAMPLES, 'modbus-tcp-thermostat.yaml');
    const sim = await startChild(
      process.execPath,
      [BIN, 'sim', 'modbus', thermostat, '--port', '0'],
      /"port":(\d+)/,
      OPTIONS,
    );
    children.push(sim.child);
    await writeFile(
      join(devices, 'thermostat.yaml'),
      (await readFile(thermostat, 'utf8')).replace('port: 5020', `port: ${sim.match[1]}`),
    );

    const sizes: string[] = [];
    for (const withNode of [false, true]) {
      const out = join(dir, withNode ? 'gateway-node.tar.gz' : 'gateway.tar.gz');
      const args = ['bundle', '--devices', devices, '--config', config, '--out', out];
      const { ms } = await run(process.execPath, [BIN, ...args, ...(withNode ? ['--with-node'] : [])]);
      sizes.push(
        `${withNode ? 'with --with-node' : 'without Node'} ${(statSync(out).size / MB).toFixed(1)} MB (built in ${(ms / 1000).toFixed(1)} s)`,
      );
    }
    lines.push(`gateway bundle (linux-${process.arch}, devices + config): ${sizes.join('; ')}`);

    await mkdir(join(dir, 'unpacked'));
    await run('tar', ['-xzf', join(dir, 'gateway.tar.gz'), '-C', join(dir, 'unpacked')]);
    const installer = join(dir, 'unpacked', 'edgetwin-0.1.0', 'install.sh');
    const installed = await run('sh', [installer, '--root', root, '--no-systemd']);
    lines.push(
      `install.sh --root --no-systemd: ${(installed.ms / 1000).toFixed(1)} s (checks SHA256SUMS, copies the release); installed tree ${await du(join(root, 'opt/edgetwin'))}`,
    );

    const edge = await startChild(
      join(root, 'opt/edgetwin/current/bin/edgetwin'),
      ['edge', '--config', join(root, 'etc/edgetwin/edge.yaml')],
      /http (http:\/\/\S+)/,
      OPTIONS,
    );
    children.push(edge.child);
    const at = (process.env.BENCH_BUNDLE_RSS_SECONDS ?? '30,60').split(',').map(Number);
    const started = Date.now();
    const samples: string[] = [];
    for (const seconds of at) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + seconds * 1000 - Date.now())));
      samples.push(`${(rssOf(edge.child.pid!) / MB).toFixed(0)} MB at ${seconds} s`);
    }
    const twins = (await (await fetch(`${edge.match[1]}/api/v1/devices/default/thermostat-01`)).json()) as {
      twins: Record<string, { reported?: { value: string } }>;
    };
    lines.push(
      `installed edge (current/bin/edgetwin edge, Modbus TCP sample against edgetwin sim, temperature ${twins.twins.temperature?.reported?.value ?? 'not read'}): RSS ${samples.join(', ')}`,
    );
  } finally {
    await Promise.all(children.map(stopChild));
    await rm(dir, { recursive: true, force: true });
  }
  return lines;
}

async function du(path: string): Promise<string> {
  const { stdout } = await run('du', ['-sh', path]);
  return stdout.split('\t')[0] ?? '?';
}
