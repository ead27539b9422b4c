import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { CloudCoreOptions } from '../../cloudcore/cloudcore.js';

/**
 * One cloudcore replica in a process of its own, so that a test can kill it as an operating system does
 * (SIGKILL: no close frame, no Lease released, no pending write flushed). The process (`main` below, bundled
 * with esbuild from these sources, libraries left to node_modules) starts CloudCore with the JSON options it
 * is given and prints `{"ready": url, "identity": …}` on stdout once edge nodes can connect.
 */
export interface Replica {
  child: ChildProcess;
  /** `127.0.0.1:<port>` of its CloudHub. */
  url: string;
  /** Its holderIdentity in Leases. */
  identity: string;
  /** Everything it wrote on stderr so far (its JSON log). */
  log(): string;
}

export type ReplicaProcessOptions = Omit<CloudCoreOptions, 'log' | 'host' | 'port' | 'dashboard'> & {
  logLevel?: string;
};

const root = fileURLToPath(new URL('../../', import.meta.url));
let bundled: Promise<string> | undefined;

/**
 * The runner as one ES module under .vitest-cache/ (in the repository, so that node_modules resolves), named by
 * its content: test runs share it, and a new one replaces it atomically.
 */
function bundle(): Promise<string> {
  bundled ??= (async () => {
    const { build } = await import('esbuild');
    const outdir = `${root}.vitest-cache/cloudcore-replica`;
    await mkdir(outdir, { recursive: true });
    const result = await build({
      entryPoints: [fileURLToPath(import.meta.url)],
      outfile: `${outdir}/replica.mjs`,
      write: false,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'warning',
      define: { 'process.env.EDGETWIN_REPLICA_MAIN': '"1"' },
    });
    const code = result.outputFiles[0]!.contents;
    const outfile = `${outdir}/replica-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`;
    const temporary = `${outfile}.${process.pid}.tmp`;
    await writeFile(temporary, code);
    await rename(temporary, outfile);
    return outfile;
  })();
  return bundled;
}

/** Starts a replica; resolves once it serves (rejects with its output if it exits first). */
export async function startReplica(options: ReplicaProcessOptions): Promise<Replica> {
  const file = await bundle();
  const child = spawn(process.execPath, [file, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const ready = await new Promise<{ ready: string; identity: string }>((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{"ready"'));
      if (line) resolve(JSON.parse(line) as { ready: string; identity: string });
    });
    child.once('exit', (code, signal) =>
      reject(new Error(`cloudcore replica exited (${code ?? signal}) before it was ready:\n${stderr}`)),
    );
  });
  return { child, url: ready.ready, identity: ready.identity, log: () => stderr };
}

/** SIGKILL, and resolves once the process is gone. */
export async function killReplica(replica: Replica): Promise<void> {
  const { child } = replica;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** SIGSTOP: the process hangs, its sockets open, answering nothing (killReplica ends it). */
export function pauseReplica(replica: Replica): void {
  replica.child.kill('SIGSTOP');
}

/** SIGTERM (a graceful stop: Leases released), and resolves once the process is gone. */
export async function stopReplica(replica: Replica): Promise<void> {
  const { child } = replica;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function main(): Promise<void> {
  const { CloudCore } = await import('../../cloudcore/cloudcore.js');
  const { createCliLogger } = await import('../../edgecore/cli/log.js');
  const { logLevel = 'info', ...options } = JSON.parse(process.argv[2] ?? '{}') as ReplicaProcessOptions;
  const cloud = new CloudCore({ ...options, host: '127.0.0.1', port: 0, log: createCliLogger(logLevel) });
  await cloud.start();
  process.stdout.write(`${JSON.stringify({ ready: cloud.url, identity: cloud.replication?.identity })}\n`);
  process.once('SIGTERM', () => {
    void cloud.stop().then(() => process.exit(0));
  });
}

if (process.env.EDGETWIN_REPLICA_MAIN === '1')
  main().catch((error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exit(1);
  });
