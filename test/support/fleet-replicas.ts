import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { stopChild } from './child.js';

/**
 * `edgetwin cloud` as an operator runs it, one process per replica (from dist/: `npm run build` first), for
 * tests and benchmarks that kill one as the operating system does.
 */
export interface CloudProcess {
  child: ChildProcess;
  /** Its replica id (`--replica-id`): the holderIdentity in Leases. */
  id: string;
  /** `127.0.0.1:<port>` of its CloudHub: what edges dial and join at. */
  url: string;
  /** `http://127.0.0.1:<port>` serving /metrics and /healthz (`--metrics`). */
  metricsUrl: string;
  /** Everything it wrote on stderr so far (its JSON log and the CLI's lines). */
  log(): string;
}

export interface CloudProcessOptions {
  id: string;
  kubeconfig: string;
  /** Shared by every replica: one CA (create it first, CloudPki.open, so that replicas do not race to). */
  pkiDir: string;
  /** `--status-interval`, ms. */
  statusIntervalMs: number;
  /** `--keepalive`, `--leader-lease`, `--node-lease`, seconds (the CLI's defaults when absent). */
  keepaliveSeconds?: number;
  leaderLeaseSeconds?: number;
  nodeLeaseSeconds?: number;
  /** LOG_LEVEL of the process (default warn). */
  logLevel?: string;
  /** Node's own options before the script, e.g. `--cpu-prof` to see where a replica's time goes. */
  nodeArgs?: string[];
  /** Where its stderr (JSON log) is copied, whole. */
  logFile?: string;
}

// dist/edgecore/cli/main.js from the sources (test/support) or from dist/test/support (the benchmarks).
const MAIN = [
  new URL('../../dist/edgecore/cli/main.js', import.meta.url).pathname,
  new URL('../../edgecore/cli/main.js', import.meta.url).pathname,
].find((path) => existsSync(path));

/** Starts `edgetwin cloud … --metrics 127.0.0.1:0`; resolves once it serves edges and metrics. */
export async function startCloudProcess(options: CloudProcessOptions): Promise<CloudProcess> {
  if (!MAIN) throw new Error('dist/edgecore/cli/main.js is missing: npm run build first');
  const args = [
    ...(options.nodeArgs ?? []),
    MAIN,
    'cloud',
    '--kubeconfig',
    options.kubeconfig,
    '--listen',
    '127.0.0.1:0',
    '--host',
    '127.0.0.1',
    '--pki',
    options.pkiDir,
    '--replica-id',
    options.id,
    '--status-interval',
    String(options.statusIntervalMs),
    '--metrics',
    '127.0.0.1:0',
  ];
  if (options.keepaliveSeconds !== undefined) args.push('--keepalive', String(options.keepaliveSeconds));
  if (options.leaderLeaseSeconds !== undefined)
    args.push('--leader-lease', String(options.leaderLeaseSeconds));
  if (options.nodeLeaseSeconds !== undefined) args.push('--node-lease', String(options.nodeLeaseSeconds));
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LOG_LEVEL: options.logLevel ?? 'warn' },
  });
  let stderr = '';
  if (options.logFile) child.stderr!.pipe(createWriteStream(options.logFile));
  const ready = new Promise<{ url: string; metricsUrl: string }>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      // Kept whole until ready, then only its end (a long run logs a lot).
      stderr = (stderr + chunk.toString()).slice(-200_000);
      const url = /connect and join at (\S+)/.exec(stderr)?.[1];
      const metricsUrl = /metrics at (\S+)\/metrics/.exec(stderr)?.[1];
      if (url && metricsUrl) resolve({ url, metricsUrl });
    });
    child.once('exit', (code, signal) =>
      reject(
        new Error(`edgetwin cloud ${options.id} exited (${code ?? signal}) before it served:\n${stderr}`),
      ),
    );
  });
  const { url, metricsUrl } = await ready;
  return { child, id: options.id, url, metricsUrl, log: () => stderr };
}

/** SIGKILL (no close frame, no Lease released, nothing flushed); resolves once the process is gone. */
export async function killCloudProcess(cloud: CloudProcess): Promise<void> {
  const { child } = cloud;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

/** SIGTERM (pending status written, Leases released), SIGKILL after 10 s; resolves once it is gone. */
export function stopCloudProcess(cloud: CloudProcess): Promise<void> {
  return stopChild(cloud.child);
}

/** The Prometheus text a replica serves at /metrics (rejects after `timeoutMs`, default 30 s). */
export async function cloudMetrics(cloud: CloudProcess, timeoutMs = 30_000): Promise<string> {
  const response = await fetch(`${cloud.metricsUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${cloud.id} /metrics answered ${response.status}`);
  return response.text();
}
