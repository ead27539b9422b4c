import { existsSync, statSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Listr, ListrLogger, type ListrTaskWrapper, PRESET_TIMER, ProcessOutput } from 'listr2';
import { loadDevices } from '../../device-models/index.js';
import { writeTarGz } from './bundle-archive.js';
import { gatewayConfig } from './bundle-config.js';
import { formatBytes, keepInDist, listFiles, writeChecksums } from './bundle-files.js';
import { compiledHere, copyProductionTree, productionPackages } from './bundle-modules.js';
import {
  ARCHES,
  checkNativeAddons,
  crossArchRefusal,
  type NativeAddon,
  nodeRuntimeProblem,
} from './bundle-native.js';
import type { Output } from './output.js';

export interface BundleOptions {
  devices: string;
  config?: string;
  withNode?: boolean;
  out: string;
  arch?: string;
  /** Appended to the version: the release is `<version>-<label>` (install.sh names its directory after it). */
  label?: string;
  /** gzip level, 1–9 (default 6). */
  level?: number;
}

/** The edgetwin checkout or package this CLI runs from (dist/edgecore/cli → three levels up). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * `edgetwin bundle`: everything a gateway needs in one .tar.gz — the built JavaScript, the production
 * node_modules with native addons built here, the devices, edge.yaml, the systemd unit and install.sh, a
 * manifest and SHA256SUMS; with --with-node this machine's Node too. Prints size and SHA-256.
 */
export async function runBundle(options: BundleOptions, out: Output): Promise<number> {
  const arch = options.arch ?? process.arch;
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  const problem = await preflight(options, arch);
  if (problem) {
    out.stderr(problem);
    return 2;
  }
  const release = options.label ? `${pkg.version}-${options.label}` : pkg.version;
  const outFile = resolve(options.out);
  const work = await mkdtemp(join(tmpdir(), 'edgetwin-bundle-'));
  const dir = join(work, `edgetwin-${release}`);
  const app = join(dir, 'app');
  let addons: NativeAddon[] = [];
  let configNotes: string[] = [];
  let archive = { bytes: 0, sha256: '' };
  const started = Date.now();
  const toStderr = new ProcessOutput(process.stderr, process.stderr);
  const tasks = new Listr(
    [
      {
        title: 'Built JavaScript (dist/, without tests and bench)',
        task: async () => {
          const dist = join(ROOT, 'dist');
          await cp(dist, join(app, 'dist'), { recursive: true, filter: (f) => keepInDist(dist, f) });
          await copyFile(join(ROOT, 'package.json'), join(app, 'package.json'));
          for (const extra of [
            'LICENSE',
            'device-models/samples',
            'device-models/examples',
            'device-models/crds',
          ])
            if (existsSync(join(ROOT, extra)))
              await cp(join(ROOT, extra), join(app, extra), { recursive: true });
        },
      },
      {
        title: 'Production node_modules (from package-lock.json, as npm ci --omit=dev)',
        task: async (_ctx, task) => {
          const packages = await productionPackages(ROOT);
          const report = reporter(task, 'packages');
          await copyProductionTree(ROOT, join(app, 'node_modules'), packages, arch, report);
          task.title = `Production node_modules: ${packages.length} packages`;
        },
      },
      {
        title: `Native addons for linux-${arch}, Node ABI ${process.versions.modules}`,
        task: async (_ctx, task) => {
          addons = await checkNativeAddons(app, await listFiles(join(app, 'node_modules')), arch, dir);
          const names = [...new Set(addons.map((a) => `${a.package} (${a.origin})`))];
          task.title = `Native addons for linux-${arch}, Node ABI ${process.versions.modules}: ${names.join(', ')}`;
        },
      },
      {
        title: `Node runtime ${process.version} (${process.execPath})`,
        enabled: () => options.withNode === true,
        task: async () => {
          await mkdir(join(dir, 'node', 'bin'), { recursive: true });
          await copyFile(process.execPath, join(dir, 'node', 'bin', 'node'));
          await chmod(join(dir, 'node', 'bin', 'node'), 0o755);
        },
      },
      {
        title: 'Devices, edge.yaml, systemd unit, install.sh',
        task: async () => {
          await copyDevices(resolve(options.devices), join(dir, 'config', 'devices'));
          const config = await gatewayConfig(options.config);
          configNotes = config.notes;
          await writeFile(join(dir, 'config', 'edge.yaml'), config.text);
          await mkdir(join(dir, 'systemd'));
          await copyFile(
            join(ROOT, 'deploy', 'edgetwin.service'),
            join(dir, 'systemd', 'edgetwin.service.in'),
          );
          await copyFile(join(ROOT, 'deploy', 'install.sh'), join(dir, 'install.sh'));
          await chmod(join(dir, 'install.sh'), 0o755);
        },
      },
      {
        title: 'Manifest and SHA256SUMS',
        task: async (_ctx, task) => {
          const contents = await writeChecksums(dir, reporter(task, 'files'));
          const manifest = {
            name: pkg.name,
            version: pkg.version,
            label: options.label ?? null,
            release,
            builtAt: new Date(started).toISOString(),
            platform: 'linux',
            arch,
            node: {
              version: process.version,
              abi: process.versions.modules,
              napi: process.versions.napi ?? null,
              bundled: options.withNode === true,
            },
            native: addons,
            contents: { list: 'SHA256SUMS', ...contents },
          };
          await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
          task.title = `Manifest and SHA256SUMS: ${contents.files} files, ${formatBytes(contents.bytes)}`;
        },
      },
      {
        title: `Archive ${basename(outFile)}`,
        task: async (_ctx, task) => {
          // what tar reads: a 512-byte header per entry, contents padded to 512 bytes
          const block = (n: number) => Math.ceil(n / 512) * 512;
          const totalBytes = (await listFiles(dir)).reduce(
            (sum, f) => sum + 1024 + block(statSync(f).size),
            0,
          );
          const report = reporter(task, 'MB', 1024 * 1024);
          archive = await writeTarGz(dir, outFile, {
            mtime: new Date(started),
            totalBytes,
            progress: report,
            ...(options.level !== undefined ? { level: options.level } : {}),
          });
          await writeFile(`${outFile}.sha256`, `${archive.sha256}  ${basename(outFile)}\n`);
        },
      },
    ],
    {
      exitOnError: true,
      // progress on stderr; stdout is for the archive's name, size and hash
      rendererOptions: { logger: new ListrLogger({ processOutput: toStderr }), timer: PRESET_TIMER },
      fallbackRendererOptions: { logger: new ListrLogger({ processOutput: toStderr }), timer: PRESET_TIMER },
      fallbackRendererCondition: !process.stderr.isTTY,
    },
  );
  try {
    await tasks.run();
  } catch (error) {
    out.stderr(`edgetwin bundle: ${(error as Error).message}`);
    await rm(outFile, { force: true });
    return 1;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  for (const note of configNotes) out.stderr(`edge.yaml: ${note}`);
  const size = (await stat(outFile)).size;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  out.stdout(`${outFile}  ${formatBytes(size)}  sha256 ${archive.sha256}  (${seconds} s)`);
  out.stdout(
    `edgetwin ${release} for linux-${arch}, Node ABI ${process.versions.modules}: ${
      options.withNode
        ? `Node ${process.version} included`
        : `the gateway needs Node ${process.versions.node.split('.')[0]} (ABI ${process.versions.modules}), or rebuild with --with-node`
    }`,
  );
  out.stdout(
    `on the gateway: tar -xzf ${basename(outFile)} && sudo ./edgetwin-${release}/install.sh  (checksum: ${basename(outFile)}.sha256)`,
  );
  return 0;
}

/** What makes a bundle impossible before anything is copied: another arch, no build, bad devices. */
async function preflight(options: BundleOptions, arch: string): Promise<string | undefined> {
  if (process.platform !== 'linux') return `edgetwin bundle: gateways run Linux; this is ${process.platform}`;
  if (!ARCHES[arch])
    return `edgetwin bundle: unknown arch "${arch}" (one of ${Object.keys(ARCHES).join(', ')})`;
  if (arch !== process.arch)
    return crossArchRefusal(arch, compiledHere(ROOT, await productionPackages(ROOT)));
  if (options.label !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(options.label))
    return `edgetwin bundle: --label "${options.label}" may hold only letters, digits and . _ + -`;
  if (
    options.level !== undefined &&
    !(Number.isInteger(options.level) && options.level >= 1 && options.level <= 9)
  )
    return 'edgetwin bundle: --level is 1 to 9';
  if (!existsSync(join(ROOT, 'dist', 'edgecore', 'cli', 'main.js')))
    return `edgetwin bundle: no built JavaScript in ${join(ROOT, 'dist')}: run npm run build`;
  if (!existsSync(join(ROOT, 'deploy', 'install.sh')))
    return `edgetwin bundle: ${join(ROOT, 'deploy')} is missing (bundle from an edgetwin checkout)`;
  if (!existsSync(options.devices)) return `edgetwin bundle: --devices ${options.devices} does not exist`;
  const { devices } = await loadDevices([options.devices]); // throws listing every problem
  if (devices.length === 0) return `edgetwin bundle: no devices in ${options.devices}`;
  if (options.withNode) {
    const why = await nodeRuntimeProblem(process.execPath, arch);
    if (why) return `edgetwin bundle: --with-node: ${why}`;
  }
  return undefined;
}

/** The device files of `from` (a directory, recursively, or one file): .yaml, .yml, .json. */
async function copyDevices(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  if (statSync(from).isFile()) {
    await copyFile(from, join(to, basename(from)));
    return;
  }
  await cp(from, to, {
    recursive: true,
    filter: (f) => statSync(f).isDirectory() || ['.yaml', '.yml', '.json'].includes(extname(f)),
  });
}

/** A progress callback that sets the task's output at most every 200 ms (every 2 s without a terminal). */
function reporter(task: ListrTaskWrapper<unknown, never, never>, unit: string, scale = 1) {
  const every = process.stderr.isTTY ? 200 : 2000;
  let last = 0;
  return (done: number, total: number) => {
    const now = Date.now();
    if (now - last < every && done < total) return;
    if (done >= total && last === Number.POSITIVE_INFINITY) return;
    last = done >= total ? Number.POSITIVE_INFINITY : now;
    const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
    task.output = `${Math.round(Math.min(done, total) / scale)}/${Math.round(total / scale)} ${unit} (${pct} %)`;
  };
}
