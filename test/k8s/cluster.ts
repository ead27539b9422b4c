import { execFile, execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway Kubernetes API server (etcd + kube-apiserver 1.20, no nodes) started by `cluster.sh`. */
export interface Cluster {
  /** Path of a kubeconfig for the cluster's admin (static token, group system:masters). */
  kubeconfig: string;
  /** The API server's URL, `https://127.0.0.1:<port>`. */
  server: string;
  /** The admin's bearer token. */
  token: string;
  /** etcd's client URL (`http://127.0.0.1:<port>`), for tests that act on the storage (compaction). */
  etcd: string;
  /** Runs the cluster's own kubectl (1.20) against it; `input` is written to its stdin. Never rejects on a non-zero exit. */
  kubectl(args: string[], input?: string): Promise<KubectlResult>;
  /** kubectl that resolves to its stdout, and rejects with its stderr on a non-zero exit. */
  run(args: string[], input?: string): Promise<string>;
  /**
   * Applies a set of device CRDs and waits until they are established: edgetwin's (device-models/crds, the
   * default) or `kubeedge`, shaped like KubeEdge's own (test/fixtures/kubeedge-crds: no status subresource, no
   * DeviceStatus). To switch sets, deleteCrds() first.
   */
  installCrds(set?: CrdSet): Promise<void>;
  /** Deletes every devices.kubeedge.io CRD (so every Device, DeviceModel, DeviceStatus) and waits for it. */
  deleteCrds(): Promise<void>;
  /** Stops etcd and kube-apiserver and removes the state directory; safe to call twice. */
  stop(): Promise<void>;
}

export type CrdSet = 'edgetwin' | 'kubeedge';

export interface KubectlResult {
  stdout: string;
  stderr: string;
  code: number;
}

// In the sources, or — when compiled into dist/test/k8s (the benchmarks) — two levels further up.
const sourceDir = (path: string) =>
  [
    new URL(`../../${path}`, import.meta.url).pathname,
    new URL(`../../../${path}`, import.meta.url).pathname,
  ].find((dir) => existsSync(dir))!;
const crdDirs: Record<CrdSet, string> = {
  edgetwin: sourceDir('device-models/crds/'),
  kubeedge: sourceDir('test/fixtures/kubeedge-crds/'),
};
const CRD_NAMES = ['devices', 'devicemodels', 'devicestatuses'].map(
  (plural) => `${plural}.devices.kubeedge.io`,
);

// Beside this file, or — when compiled into dist/test/k8s (the benchmarks) — in the sources.
const script = [
  new URL('./cluster.sh', import.meta.url).pathname,
  new URL('../../../test/k8s/cluster.sh', import.meta.url).pathname,
].find((path) => existsSync(path))!;

interface Run {
  stdout: string;
  stderr: string;
  code: number;
}

function run(file: string, args: string[], input?: string, env = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { maxBuffer: 64 * 1024 * 1024, env }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(error);
      else resolve({ stdout, stderr, code: error ? (error.code as number) : 0 });
    });
    child.stdin?.on('error', () => {});
    child.stdin?.end(input ?? '');
  });
}

/**
 * Builds (once, cached under ~/.cache/edgetwin) and starts a real kube-apiserver in a fresh temporary
 * directory. A cold build takes a few minutes; give the calling hook a generous timeout.
 */
export async function startCluster(options: { apiserverArgs?: string[] } = {}): Promise<Cluster> {
  const build = await run('bash', [script, 'build']);
  if (build.code !== 0) {
    const reason =
      build.stderr.trim().split('\n').slice(-10).join('\n') || `cluster.sh build exited ${build.code}`;
    throw new Error(`kube-apiserver is not available: ${reason}`);
  }
  const bin = build.stdout.trim().split('\n').at(-1)!;
  const kubectlPath = join(bin, 'kubectl');

  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-k8s-'));
  // A test process that exits without stop() must not leave etcd and kube-apiserver behind.
  const downOnExit = () => {
    try {
      execFileSync('bash', [script, 'down', dir], { stdio: 'ignore' });
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', downOnExit);
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await run('bash', [script, 'down', dir]);
      process.off('exit', downOnExit);
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  const up = await run('bash', [script, 'up', dir], undefined, {
    ...process.env,
    EDGETWIN_APISERVER_ARGS: (options.apiserverArgs ?? []).join(' '),
  });
  if (up.code !== 0) {
    await stop().catch(() => {});
    throw new Error(`kube-apiserver did not start (cluster.sh up exited ${up.code}):\n${up.stderr}`);
  }
  const kubeconfig = up.stdout.trim().split('\n').at(-1)!;
  const kubectl = (args: string[], input?: string): Promise<KubectlResult> =>
    run(kubectlPath, ['--kubeconfig', kubeconfig, ...args], input);
  const view = async (path: string): Promise<string> => {
    const result = await kubectl(['config', 'view', '--raw', '-o', `jsonpath={${path}}`]);
    if (result.code !== 0) throw new Error(`kubectl config view failed: ${result.stderr}`);
    return result.stdout;
  };
  try {
    const server = await view('.clusters[0].cluster.server');
    const token = await view('.users[0].user.token');
    const etcd = (await readFile(join(dir, 'etcd-url'), 'utf8')).trim();
    const runOk = async (args: string[], input?: string) => {
      const result = await kubectl(args, input);
      if (result.code !== 0)
        throw new Error(`kubectl ${args.join(' ')} exited ${result.code}: ${result.stderr || result.stdout}`);
      return result.stdout;
    };
    const installCrds = async (set: CrdSet = 'edgetwin') => {
      await runOk(['apply', '-f', crdDirs[set]]);
      await runOk(['wait', '--for', 'condition=established', '--timeout', '60s', 'crd', '--all']);
    };
    const deleteCrds = async () => {
      await runOk(['delete', 'crd', '--ignore-not-found', '--wait', ...CRD_NAMES]);
    };
    return { kubeconfig, server, token, etcd, kubectl, run: runOk, installCrds, deleteCrds, stop };
  } catch (error) {
    await stop().catch(() => {});
    throw error;
  }
}
