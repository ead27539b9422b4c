import { existsSync, lstatSync } from 'node:fs';
import { cp, readFile } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';

/** One production package of the lockfile: where it sits under the project and the version locked. */
export interface LockedPackage {
  path: string;
  version: string;
  optional: boolean;
}

interface Lockfile {
  packages: Record<string, { version?: string; dev?: boolean; optional?: boolean; link?: boolean }>;
}

/**
 * The production dependency tree of `root`, from its package-lock.json: every installed path that is not
 * dev-only (what `npm ci --omit=dev` would install). Optional packages for other platforms are left out.
 */
export async function productionPackages(root: string): Promise<LockedPackage[]> {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as Lockfile;
  const out: LockedPackage[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/') || entry.dev || entry.link) continue;
    const optional = entry.optional === true;
    if (optional && !existsSync(join(root, path))) continue;
    out.push({ path, version: entry.version ?? '', optional });
  }
  return out;
}

/** Native-addon packages whose binaries were compiled on this machine (build/Release), not prebuilt. */
export function compiledHere(root: string, packages: LockedPackage[]): string[] {
  return packages
    .filter((p) => existsSync(join(root, p.path, 'binding.gyp')) && existsSync(join(root, p.path, 'build')))
    .map((p) => p.path.slice(p.path.lastIndexOf('node_modules/') + 'node_modules/'.length));
}

const DROP_FILE = /\.(map|d\.ts|d\.mts|d\.cts|ts|mts|cts|tsbuildinfo)$/;
const DROP_DIR_AT_TOP = new Set([
  'test',
  'tests',
  '__tests__',
  '.github',
  'coverage',
  'benchmark',
  'benchmarks',
]);
const NATIVE_SOURCE = /\.(c|cc|cpp|cxx|h|hh|hpp|o|a|mk|target\.mk|Makefile)$/;
const LICENSE = /^(licen[cs]e|copying|notice)/i;

/**
 * What a gateway does not need from a package: nested node_modules (own entries) and .bin, type
 * declarations, source maps and TypeScript sources, tests and READMEs (licences are kept), and for native
 * addons their C/C++ sources and build intermediates (only the `.node` files stay) and the prebuilds of
 * other platforms. Returns true to keep `file` (an absolute path inside the package at `pkgDir`).
 */
export function keepInPackage(pkgDir: string, file: string, native: boolean, arch: string): boolean {
  const rel = relative(pkgDir, file);
  if (rel === '') return true;
  const parts = rel.split(sep);
  const name = basename(file);
  if (parts[0] === 'node_modules' || name === '.bin') return false;
  if (parts.length > 1 && DROP_DIR_AT_TOP.has(parts[0]!)) return false;
  if (parts.length === 1 && DROP_DIR_AT_TOP.has(name)) return false;
  const prebuilds = parts.indexOf('prebuilds');
  if (prebuilds >= 0 && parts.length > prebuilds + 1 && !parts[prebuilds + 1]!.startsWith(`linux-${arch}`))
    return false;
  if (LICENSE.test(name)) return true;
  if (DROP_FILE.test(name) || /\.(md|markdown)$/i.test(name)) return false;
  if (native) {
    if (parts[0] === 'deps' || parts[0] === 'src') return false;
    if (parts.includes('obj.target') || parts.includes('.deps')) return false;
    if (parts[0] === 'build' && parts.length > 1) {
      // only the compiled addons (and the directories holding them) from node-gyp's build tree
      return name.endsWith('.node') || lstatSync(file).isDirectory();
    }
    if (NATIVE_SOURCE.test(name)) return false;
  }
  return true;
}

/**
 * Copies the production tree from `root/node_modules` into `dest` (a node_modules directory), pruned by
 * `keepInPackage`. Refuses when an installed package is not the version the lockfile names (run `npm ci`).
 */
export async function copyProductionTree(
  root: string,
  dest: string,
  packages: LockedPackage[],
  arch: string,
  progress: (done: number, total: number) => void,
): Promise<void> {
  let done = 0;
  for (const pkg of packages) {
    const from = join(root, pkg.path);
    if (!existsSync(from))
      throw new Error(`${pkg.path} is in package-lock.json but not installed: run npm ci`);
    const installed = JSON.parse(await readFile(join(from, 'package.json'), 'utf8')) as { version?: string };
    if (pkg.version && installed.version !== pkg.version)
      throw new Error(
        `${pkg.path} is ${installed.version}, package-lock.json says ${pkg.version}: run npm ci before bundling`,
      );
    const native = existsSync(join(from, 'binding.gyp'));
    await cp(from, join(dest, relative('node_modules', pkg.path)), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (source) => keepInPackage(from, source, native, arch),
    });
    progress(++done, packages.length);
  }
}
