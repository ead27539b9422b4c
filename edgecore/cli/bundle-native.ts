import { open } from 'node:fs/promises';
import { relative, sep } from 'node:path';

/** ELF `e_machine` of each Node arch a gateway runs, and what `uname -m` says there (install.sh compares). */
export const ARCHES: Record<string, { elf: number; uname: string[] }> = {
  x64: { elf: 62, uname: ['x86_64', 'amd64'] },
  arm64: { elf: 183, uname: ['aarch64', 'arm64'] },
  arm: { elf: 40, uname: ['armv7l', 'armv6l', 'armv8l'] },
  ia32: { elf: 3, uname: ['i386', 'i686'] },
  riscv64: { elf: 243, uname: ['riscv64'] },
};

/** What a native addon in the bundle is: compiled on this machine (Node-ABI specific unless N-API) or prebuilt. */
export interface NativeAddon {
  /** The npm package it belongs to. */
  package: string;
  /** Its path inside the bundle. */
  file: string;
  origin: 'compiled here' | 'prebuilt';
}

/** The ELF machine of a file, or undefined if it is not an ELF object (a Mach-O or PE prebuild, say). */
export async function elfMachine(file: string): Promise<number | undefined> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(20);
    const { bytesRead } = await handle.read(head, 0, 20, 0);
    if (bytesRead < 20 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
    return head[5] === 2 ? head.readUInt16BE(18) : head.readUInt16LE(18);
  } finally {
    await handle.close();
  }
}

/** `node_modules/@scope/name/...` or `node_modules/a/node_modules/b/...` → the innermost package name. */
export function packageOf(path: string): string {
  const parts = path.split(sep);
  const at = parts.lastIndexOf('node_modules');
  const name = parts[at + 1] ?? '';
  return name.startsWith('@') ? `${name}/${parts[at + 2]}` : name;
}

/**
 * Checks every `.node` file under `appDir` is an ELF object for `arch`; returns them for the manifest.
 * Throws naming the files that are not, so a bundle never carries a binary its gateway cannot load.
 */
export async function checkNativeAddons(
  appDir: string,
  files: string[],
  arch: string,
  bundleDir: string,
): Promise<NativeAddon[]> {
  const want = ARCHES[arch]?.elf;
  const addons: NativeAddon[] = [];
  const wrong: string[] = [];
  for (const file of files.filter((f) => f.endsWith('.node'))) {
    const machine = await elfMachine(file);
    const inBundle = relative(bundleDir, file).split(sep).join('/');
    if (machine !== want)
      wrong.push(`${inBundle} (${machine === undefined ? 'not ELF' : `ELF machine ${machine}`})`);
    addons.push({
      package: packageOf(relative(appDir, file)),
      file: inBundle,
      origin: inBundle.includes('/prebuilds/') ? 'prebuilt' : 'compiled here',
    });
  }
  if (wrong.length > 0)
    throw new Error(`native addons not built for linux-${arch} (ELF machine ${want}): ${wrong.join(', ')}`);
  return addons;
}

/**
 * Why a bundle for another arch cannot be made here: the addons compiled on this machine (better-sqlite3,
 * the BLE stack) are for this CPU and this Node ABI only. N-API prebuilds (serialport, usb) cover other arches.
 */
export function crossArchRefusal(target: string, compiledHere: string[]): string {
  const host = process.arch;
  return [
    `edgetwin bundle: cannot build a ${target} bundle on this ${host} machine.`,
    `These native modules were compiled here, for linux-${host} and Node ABI ${process.versions.modules} only: ${compiledHere.join(', ')}.`,
    `Shipping them would give a gateway that fails at start ("wrong ELF class" / "Exec format error"). Either:`,
    `  - build the bundle on a ${target} machine with the same Node major as the gateway (the gateway itself, e.g. a Raspberry Pi 4/5 with a 64-bit OS for arm64):`,
    '      npm ci && npm run build && npx edgetwin bundle --devices … --out gateway.tar.gz',
    `  - or in an emulated ${target} container on this machine (qemu-user-static + binfmt), e.g.`,
    `      docker run --rm --platform linux/${target === 'arm' ? 'arm/v7' : target} -v "$PWD":/src -w /src node:20-bookworm sh -c 'npm ci && npm run build && npx edgetwin bundle --devices … --out gateway.tar.gz'`,
    `  - or install prebuilt ${target} binaries of those modules into node_modules first (npm ci on ${target}), then bundle there.`,
    'serialport and usb ship N-API prebuilds for linux-arm and linux-arm64 and need nothing.',
  ].join('\n');
}

/** Shared libraries every glibc Linux has; a Node linked against anything else cannot be copied alone. */
const BASE_LIBS =
  /^(linux-vdso|linux-gate|ld-linux|libc|libm|libdl|libpthread|librt|libstdc\+\+|libgcc_s|libatomic)[.-]/;

/**
 * Why `node` cannot go into a bundle as one file, if it cannot: Debian's own nodejs package links libnode.so,
 * libuv and ICU from the system; the official builds (nodejs.org, NodeSource) need only glibc and libstdc++.
 */
export async function nodeRuntimeProblem(execPath: string, arch: string): Promise<string | undefined> {
  if ((await elfMachine(execPath)) !== ARCHES[arch]?.elf)
    return `${execPath} is not a linux-${arch} ELF binary`;
  const { execFile } = await import('node:child_process');
  const ldd = await new Promise<string | undefined>((resolve) =>
    execFile('ldd', [execPath], { timeout: 10_000 }, (error, stdout) => resolve(error ? undefined : stdout)),
  );
  if (ldd === undefined) return undefined; // static, or no ldd: nothing more to check
  const extra = ldd
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((lib) => lib && !lib.startsWith('/') && !BASE_LIBS.test(lib));
  if (extra.length === 0) return undefined;
  return `${execPath} needs shared libraries a gateway may not have (${extra.join(', ')}): it looks like a distribution build (Debian's nodejs links libnode). Run edgetwin bundle with an official Node 20 build (nodejs.org or NodeSource) to use --with-node, or install Node 20 on the gateway and leave --with-node out`;
}
