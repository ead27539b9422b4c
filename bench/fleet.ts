import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { CloudPki } from '../cloudcore/pki.js';
import { type Cluster, startCluster } from '../test/k8s/cluster.js';
import {
  createFleetDevices,
  fleetNode,
  fleetProperties,
  reportedValues,
} from '../test/support/fleet-devices.js';
import {
  type CloudProcess,
  cloudMetrics,
  killCloudProcess,
  startCloudProcess,
  stopCloudProcess,
} from '../test/support/fleet-replicas.js';
import { cores, type ProcSample, procSample, promSum, quantile } from '../test/support/fleet-stats.js';
import { waitFor } from '../test/support/wait-for.js';
import { EdgeProcess } from './fleet-host.js';
import { StatusWatch } from './fleet-watch.js';

/** What a fleet run is made of; every field has an environment variable (fleetSettings). */
export interface FleetSettings {
  edges: number;
  devices: number;
  properties: number;
  /** The measuring window, and the warm-up before it (s). */
  seconds: number;
  warmupSeconds: number;
  /** Every property of every device reports once per this many ms. */
  periodMs: number;
  /** `edgetwin cloud --status-interval` (ms) and the edges' `twin.writeBehindMs`. */
  statusIntervalMs: number;
  writeBehindMs: number;
  /** Processes the edges are spread over, and Device creates in flight at once. */
  edgeProcesses: number;
  createConcurrency: number;
  /** How long the edges go on reporting after the kill before they stop (s). */
  afterKillSeconds: number;
}

export function fleetSettings(env: NodeJS.ProcessEnv = process.env): FleetSettings {
  const number = (name: string, fallback: number) => {
    const value = Number(env[name] ?? fallback);
    if (!(value > 0)) throw new Error(`${name}=${env[name]}: expected a positive number`);
    return value;
  };
  return {
    edges: number('FLEET_EDGES', 100),
    devices: number('FLEET_DEVICES', 100),
    properties: number('FLEET_PROPERTIES', 2),
    seconds: number('FLEET_SECONDS', 30),
    warmupSeconds: number('FLEET_WARMUP_SECONDS', 10),
    periodMs: number('FLEET_PERIOD_MS', 1000),
    statusIntervalMs: number('FLEET_STATUS_INTERVAL_MS', 10_000),
    writeBehindMs: number('FLEET_WRITE_BEHIND_MS', 5000),
    edgeProcesses: number('FLEET_EDGE_PROCESSES', 2),
    createConcurrency: number('FLEET_CREATE_CONCURRENCY', 32),
    afterKillSeconds: number('FLEET_AFTER_KILL_SECONDS', 10),
  };
}

const NAMESPACE = 'default';
const s1 = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const mb = (bytes: number) => `${Math.round(bytes / 2 ** 20)} MB`;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The fleet benchmark (issue 17): one real kube-apiserver, two `edgetwin cloud` replicas (processes, sharing one
 * PKI), `edges` simulated edges (FleetEdge: real EdgeHub, outbox and SQLite store; no EventBus, no mappers) in
 * `edgeProcesses` processes, each edge holding `devices` Devices that report `properties` properties every
 * `periodMs`. Prints, as it goes: setup times; over the window, reports made at the edges and covered in
 * DeviceStatus per second, status writes per second as cloudcore counts them and as the API server does, the
 * sync latency from a report being made to its DeviceStatus showing it (or a newer value), CPU and RSS of each
 * replica and of the API server; then the replica serving the most edges is SIGKILLed: how long until every
 * edge is connected again, and, once reporting has stopped and the fleet is quiet, how many properties'
 * last reported value never reached their DeviceStatus (lost reports: the target is 0).
 */
export async function benchFleet(
  s: FleetSettings,
  print: (line: string) => void,
  cleanups: (() => Promise<unknown>)[] = [],
): Promise<void> {
  const started = performance.now();
  const total = s.edges * s.devices;
  try {
    const cluster = await startCluster();
    cleanups.push(() => cluster.stop());
    await cluster.installCrds();
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    const stateDir = dirname(cluster.kubeconfig);
    const apiserverPid = Number(await readFile(join(stateDir, 'kube-apiserver.pid'), 'utf8'));
    const etcdPid = Number(await readFile(join(stateDir, 'etcd.pid'), 'utf8'));
    const dir = await mkdtemp(join(tmpdir(), 'edgetwin-fleet-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const pkiDir = join(dir, 'pki');
    const pki = await CloudPki.open(pkiDir, { hosts: ['127.0.0.1'] });
    print(`setup: kube-apiserver up in ${s1(performance.now() - started)}`);

    let t = performance.now();
    await createFleetDevices(kubeConfig, {
      namespace: NAMESPACE,
      edges: s.edges,
      devices: s.devices,
      properties: s.properties,
      concurrency: s.createConcurrency,
    });
    const created = performance.now() - t;
    print(
      `setup: ${total} Devices created in ${s1(created)} (${Math.round(total / (created / 1000))}/s, ` +
        `${s.createConcurrency} at a time)`,
    );

    // Started once the Devices are there: each lists them at start instead of taking 10,000 watch events while
    // the edges join.
    t = performance.now();
    const replicas: CloudProcess[] = [];
    for (const id of ['fleet-a', 'fleet-b']) {
      const replica = await startCloudProcess({
        id,
        kubeconfig: cluster.kubeconfig,
        pkiDir,
        statusIntervalMs: s.statusIntervalMs,
        ...(process.env.FLEET_REPLICA_NODE_ARGS
          ? { nodeArgs: process.env.FLEET_REPLICA_NODE_ARGS.split(' ') }
          : {}),
        ...(process.env.FLEET_LOG_DIR ? { logFile: join(process.env.FLEET_LOG_DIR, `${id}.log`) } : {}),
      });
      replicas.push(replica);
      cleanups.push(() => stopCloudProcess(replica));
    }
    print(`setup: 2 replicas (edgetwin cloud) serving after ${s1(performance.now() - t)}`);

    // The edges, spread over their processes; each joins through one replica, in turn.
    t = performance.now();
    const hosts = Array.from({ length: s.edgeProcesses }, () => new EdgeProcess());
    cleanups.push(() => Promise.all(hosts.map((h) => h.stop())));
    const edges = await Promise.all(
      [...Array(s.edges).keys()].map(async (e) => ({
        node: fleetNode(e),
        token: await pki.issueToken(3600),
        join: replicas[e % replicas.length]!.url,
      })),
    );
    const properties = fleetProperties(s.properties);
    await Promise.all(
      hosts.map((host, h) =>
        host.start({
          edges: edges.filter((_, e) => e % hosts.length === h),
          servers: replicas.map((r) => r.url),
          dir,
          namespace: NAMESPACE,
          properties,
          periodMs: s.periodMs,
          writeBehindMs: s.writeBehindMs,
          keepaliveSeconds: 15,
          reconnectMaxSeconds: 30,
        }),
      ),
    );
    const counts = async () => {
      const all = await Promise.all(hosts.map((h) => h.counts()));
      return all.reduce((a, c) => ({
        held: a.held + c.held,
        connected: a.connected + c.connected,
        reported: a.reported + c.reported,
        skipped: a.skipped + c.skipped,
        outbox: a.outbox + c.outbox,
        joinRetries: a.joinRetries + c.joinRetries,
      }));
    };
    const { joinRetries } = await counts();
    print(
      `setup: ${s.edges} edges joined (real tokens, ${4 * s.edgeProcesses} at a time) in ${s1(performance.now() - t)}` +
        (joinRetries > 0
          ? `; ${joinRetries} joins answered "join ledger busy, try again" and were made again`
          : ''),
    );
    t = performance.now();
    await waitFor(
      `every edge connected, holding its ${s.devices} devices`,
      async () => {
        const c = await counts();
        return c.connected === s.edges && c.held === total;
      },
      600_000,
      500,
    );
    print(`setup: every edge connected and holding its devices after ${s1(performance.now() - t)}`);

    const watch = new StatusWatch(kubeConfig, NAMESPACE, s.periodMs);
    await watch.start();
    cleanups.push(async () => watch.stop());
    t = performance.now();
    await Promise.all(hosts.map((h) => h.online()));
    await Promise.all(hosts.map((h) => h.report(true)));
    let told = performance.now();
    await waitFor(
      'a reported value in every DeviceStatus',
      () => {
        if (performance.now() - told > 30_000) {
          told = performance.now();
          print(
            `setup: … ${watch.showing} of ${total * s.properties} properties show a value after ${s1(told - t)}`,
          );
        }
        return watch.showing === total * s.properties;
      },
      900_000,
      500,
    ).catch(() => {
      throw new Error(
        `after 15 min, ${watch.showing} of ${total * s.properties} properties show a value in their DeviceStatus: ` +
          'this fleet does not fit here (try fewer FLEET_EDGES × FLEET_DEVICES, or a longer FLEET_STATUS_INTERVAL_MS)',
      );
    });
    print(
      `setup: every device online and reporting, its first values in its DeviceStatus after ` +
        `${s1(performance.now() - t)}; setup in all ${s1(performance.now() - started)}`,
    );

    await pause(s.warmupSeconds * 1000);
    const before = await sample(cluster, replicas, hosts, [apiserverPid, etcdPid], counts);
    watch.startRecording();
    await pause(s.seconds * 1000);
    const after = await sample(cluster, replicas, hosts, [apiserverPid, etcdPid], counts);
    watch.recording = false;
    const window = (after.at - before.at) / 1000;
    const rate = (n: number) => Math.round(n / window);
    const latencies = watch.latencies.sort((a, b) => a - b);
    const shown = watch.shown.sort((a, b) => a - b);
    print(
      `fleet: ${s.edges} edges × ${s.devices} devices × ${s.properties} properties every ${s.periodMs} ms; ` +
        `2 replicas, --status-interval ${s.statusIntervalMs} ms, edge writeBehindMs ${s.writeBehindMs}; ` +
        `${window.toFixed(1)} s window after ${s.warmupSeconds} s warm-up`,
    );
    print(
      `  reports: ${rate(after.edges.reported - before.edges.reported)}/s made at the edges` +
        (after.edges.skipped > before.edges.skipped
          ? ` (${rate(after.edges.skipped - before.edges.skipped)}/s skipped: the edge processes fell behind)`
          : '') +
        `, ${rate(watch.covered)}/s reached DeviceStatus (as values or coalesced into newer ones); ` +
        `outboxes hold ${after.edges.outbox} records`,
    );
    const cloud = (m: Sample, name: string, labels: Record<string, string> = {}) =>
      m.cloud.every((t) => t.includes(name))
        ? m.cloud.reduce((n, t) => n + promSum(t, name, labels), 0)
        : undefined;
    const cloudRate = (name: string, labels: Record<string, string> = {}) => {
      const [from, to] = [cloud(before, name, labels), cloud(after, name, labels)];
      return from === undefined || to === undefined ? 'n/a' : `${rate(to - from)}/s`;
    };
    // Server-side apply counts as verb APPLY, a merge patch as PATCH, a replace as UPDATE.
    const api = (labels: Record<string, string | RegExp>) =>
      `${rate(promSum(after.apiserver, 'apiserver_request_total', labels) - promSum(before.apiserver, 'apiserver_request_total', labels))}/s`;
    const writes = /^(APPLY|PATCH|UPDATE|POST)$/;
    print(
      `  status writes: cloudcore (both replicas) ${cloudRate('edgetwin_cloudcore_status_patches_total', { result: 'ok' })} ` +
        `sent, ${cloudRate('edgetwin_cloudcore_status_reports_total', { type: 'twins' })} twin reports taken, ` +
        `${cloudRate('edgetwin_cloudcore_status_reports_coalesced_total')} coalesced; the API server took ` +
        `${api({ verb: writes, resource: 'devicestatuses' })} DeviceStatus writes, ` +
        `${api({ verb: writes, resource: 'devices', subresource: 'status' })} Device status writes, ` +
        `${api({ verb: writes, resource: 'events' })} Event writes, ${api({ verb: writes, resource: 'leases' })} ` +
        `Lease writes, ${api({})} requests in all`,
    );
    print(
      `  sync latency, report made → DeviceStatus shows it or newer: p50 ${s1(quantile(latencies, 0.5))}, ` +
        `p99 ${s1(quantile(latencies, 0.99))} (${latencies.length} reports); values that showed: ` +
        `p50 ${s1(quantile(shown, 0.5))}, p99 ${s1(quantile(shown, 0.99))}`,
    );
    for (const [i, replica] of replicas.entries())
      print(`  ${replica.id}: ${usage(before.procs[i], after.procs[i])}, ${servedBy(hosts, replica)} edges`);
    print(
      `  kube-apiserver: ${usage(before.procs[2], after.procs[2])}; etcd: ${usage(before.procs[3], after.procs[3])}; ` +
        `edge processes: ${before.hosts.map((b, i) => usage(b, after.hosts[i])).join(', ')}`,
    );

    // SIGKILL the replica serving the most edges.
    const victim = replicas.reduce((a, b) => (servedBy(hosts, b) > servedBy(hosts, a) ? b : a));
    const moving = servedBy(hosts, victim);
    const killedAt = Date.now();
    await killCloudProcess(victim);
    const back = await waitFor(
      'every edge connected again',
      () => {
        let last = killedAt;
        for (const host of hosts)
          for (const link of host.links.values()) {
            if (!link.up || (link.connectedAt < killedAt && link.server === victim.url)) return false;
            last = Math.max(last, link.connectedAt);
          }
        return { after: last - killedAt };
      },
      300_000,
    );
    print(
      `failover: ${victim.id} (serving ${moving} edges) SIGKILLed; every edge connected again after ` +
        `${(back.after / 1000).toFixed(2)} s`,
    );
    await pause(s.afterKillSeconds * 1000);
    await Promise.all(hosts.map((h) => h.report(false)));
    const stoppedAt = performance.now();
    const last = new Map<string, string>();
    for (const host of hosts)
      for (const [name, property, value] of await host.last()) last.set(`${name}/${property}`, value);
    const missing = () => {
      let count = 0;
      for (const [key, value] of last) {
        const at = key.lastIndexOf('/');
        if (watch.values.get(key.slice(0, at))?.get(key.slice(at + 1)) !== value) count++;
      }
      return count;
    };
    // Quiet: every outbox empty and every last value showing, or nothing more coming.
    const quiet = await waitFor(
      'the fleet quiet',
      async () =>
        missing() === 0 || ((await counts()).outbox === 0 && performance.now() - stoppedAt > 60_000),
      120_000 + 10 * s.statusIntervalMs,
      500,
    ).then(
      () => performance.now() - stoppedAt,
      () => undefined,
    );
    const listed = await reportedValues(kubeConfig, NAMESPACE);
    let lost = 0;
    for (const [key, value] of last) {
      const at = key.lastIndexOf('/');
      if (listed.get(key.slice(0, at))?.get(key.slice(at + 1)) !== value) lost++;
    }
    print(
      `failover: reporting stopped ${s.afterKillSeconds} s after the kill; ` +
        (quiet === undefined
          ? 'never quiet; '
          : `every last value in its DeviceStatus after ${s1(quiet)}; `) +
        `last reported values missing from DeviceStatus: ${lost} of ${last.size} (target 0)`,
    );
    print(`fleet benchmark done in ${s1(performance.now() - started)}`);
  } finally {
    await cleanUp(cleanups);
  }
}

/** Runs the cleanups, newest first, each once (a signal may run them while the benchmark's own run does). */
export async function cleanUp(cleanups: (() => Promise<unknown>)[]): Promise<void> {
  for (let cleanup = cleanups.pop(); cleanup; cleanup = cleanups.pop()) await cleanup().catch(() => {});
}

interface Sample {
  at: number;
  cloud: string[];
  apiserver: string;
  procs: (ProcSample | undefined)[];
  hosts: (ProcSample | undefined)[];
  edges: { reported: number; skipped: number; outbox: number };
}

async function sample(
  cluster: Cluster,
  replicas: CloudProcess[],
  hosts: EdgeProcess[],
  pids: number[],
  counts: () => Promise<{ reported: number; skipped: number; outbox: number }>,
): Promise<Sample> {
  const at = performance.now();
  const procs = [...replicas.map((r) => procSample(r.child.pid ?? 0)), ...pids.map((pid) => procSample(pid))];
  const [cloud, apiserver, edges] = await Promise.all([
    Promise.all(replicas.map((r) => cloudMetrics(r))),
    cluster.run(['get', '--raw', '/metrics']),
    counts(),
  ]);
  return { at, cloud, apiserver, procs, hosts: hosts.map((h) => procSample(h.pid)), edges };
}

function usage(from: ProcSample | undefined, to: ProcSample | undefined): string {
  if (!from || !to) return 'n/a';
  return `${cores(from, to).toFixed(2)} cores, RSS ${mb(to.rssBytes)}`;
}

function servedBy(hosts: EdgeProcess[], replica: CloudProcess): number {
  let count = 0;
  for (const host of hosts)
    for (const link of host.links.values()) if (link.up && link.server === replica.url) count++;
  return count;
}
