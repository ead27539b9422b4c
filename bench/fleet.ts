import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { CloudPki } from '../cloudcore/pki.js';
import { startCluster } from '../test/k8s/cluster.js';
import {
  createFleetDevices,
  fleetNode,
  fleetProperties,
  reportedValues,
} from '../test/support/fleet-devices.js';
import {
  type CloudProcess,
  killCloudProcess,
  startCloudProcess,
  stopCloudProcess,
} from '../test/support/fleet-replicas.js';
import { waitFor } from '../test/support/wait-for.js';
import { sample, servedBy, windowFigures } from './fleet-figures.js';
import { EdgeProcess, type LinkState } from './fleet-host.js';
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
  /** Where each replica's log is kept (`<id>.log`), and Node options for the replicas (e.g. `--cpu-prof`). */
  logDir?: string;
  replicaNodeArgs?: string[];
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
    ...(env.FLEET_LOG_DIR ? { logDir: env.FLEET_LOG_DIR } : {}),
    ...(env.FLEET_REPLICA_NODE_ARGS ? { replicaNodeArgs: env.FLEET_REPLICA_NODE_ARGS.split(' ') } : {}),
  };
}

const NAMESPACE = 'default';
const s1 = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
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
        ...(s.replicaNodeArgs ? { nodeArgs: s.replicaNodeArgs } : {}),
        ...(s.logDir ? { logFile: join(s.logDir, `${id}.log`) } : {}),
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
    for (const line of windowFigures(s, before, after, watch, replicas, hosts)) print(line);

    // SIGKILL the replica serving the most edges.
    const victim = replicas.reduce((a, b) => (servedBy(hosts, b) > servedBy(hosts, a) ? b : a));
    const moving = servedBy(hosts, victim);
    const killedAt = Date.now();
    await killCloudProcess(victim);
    const served = (link: LinkState) =>
      link.up && !(link.connectedAt < killedAt && link.server === victim.url);
    const links = () => hosts.flatMap((host) => [...host.links.values()]);
    const back = await waitFor(
      'every edge connected again',
      () =>
        links().every(served) && {
          after: Math.max(killedAt, ...links().map((l) => l.connectedAt)) - killedAt,
        },
      300_000,
    ).catch(() => undefined);
    print(
      `failover: ${victim.id} (serving ${moving} edges) SIGKILLed; ` +
        (back
          ? `every edge connected again after ${(back.after / 1000).toFixed(2)} s`
          : `after 300 s, ${links().filter(served).length} of ${s.edges} edges connected`),
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
