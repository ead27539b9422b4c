import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEdgeConfig } from '../edgecore/config.js';
import { EdgeCore } from '../edgecore/edgecore.js';
import { joinCloud } from '../edgecore/join.js';
import { type Cluster, startCluster } from '../test/k8s/cluster.js';
import {
  killReplica,
  pauseReplica,
  type Replica,
  type ReplicaProcessOptions,
  startReplica,
  stopReplica,
} from '../test/support/cloudcore-replica.js';
import { joinedEdgeConfig } from '../test/support/joined-edge.js';
import { startTcpProxy, type TcpProxy } from '../test/support/tcp-proxy.js';
import { waitFor } from '../test/support/wait-for.js';
import { LEADER_LEASE } from './leader.js';
import { CloudPki } from './pki.js';

/**
 * Two cloudcore replicas, each its own process, against a real kube-apiserver; four real edgecores (SQLite
 * outbox, embedded broker) given both replicas' addresses (`cloud.servers`; each address a TCP relay, as a
 * pod's Service would be, so that a replica started again is found at the same address). While every edge
 * reports without pause, the replica serving the first edge is killed (SIGKILL: no close frame, no Lease
 * released) three times over, then made to hang (SIGSTOP: sockets open, nothing answered) once: each edge on it
 * must be served by the other within a bounded time, a Device change made meanwhile must reach its edge, the
 * leader Lease must pass to a live replica, and in the end every property's last reported value at every edge
 * (the last ones sent to the hung replica, never answered) must be in its DeviceStatus: no report lost.
 */

const GROUP = 'devices.kubeedge.io';
const NAMESPACE = 'default';
/** More edges or kills for a measurement: EDGETWIN_REPLICA_EDGES=10 EDGETWIN_REPLICA_KILLS=8 npx vitest run … */
const EDGES = Number(process.env.EDGETWIN_REPLICA_EDGES ?? 4);
const KILLS = Number(process.env.EDGETWIN_REPLICA_KILLS ?? 3);
const PROPS = ['p0', 'p1', 'p2'] as const;
const nodeOf = (i: number) => `edge-${i}`;
const deviceOf = (i: number) => `meter-${i}`;

const model = {
  apiVersion: `${GROUP}/v1beta1`,
  kind: 'DeviceModel',
  metadata: { name: 'replica-meter', namespace: NAMESPACE },
  spec: {
    protocol: 'replicaProtocol',
    properties: [
      { name: 'p0', type: 'INT', accessMode: 'ReadWrite' },
      { name: 'p1', type: 'INT', accessMode: 'ReadOnly' },
      { name: 'p2', type: 'STRING', accessMode: 'ReadOnly' },
    ],
  },
};

const properties = (desired?: string) =>
  PROPS.map((name) => ({
    name,
    reportToCloud: true,
    ...(name === 'p0' && desired ? { desired: { value: desired } } : {}),
  }));

const device = (i: number) => ({
  apiVersion: `${GROUP}/v1beta1`,
  kind: 'Device',
  metadata: { name: deviceOf(i), namespace: NAMESPACE },
  spec: {
    deviceModelRef: { name: 'replica-meter' },
    nodeName: nodeOf(i),
    protocol: { protocolName: 'replicaProtocol' },
    properties: properties(),
  },
});

type StatusTwin = { propertyName: string; reported?: { value?: string } };

describe('cloudcore replicas: an edge survives the loss of the replica it is connected to', () => {
  let cluster: Cluster;
  let dir: string;
  let kubeConfig: KubeConfig;
  let objects: CustomObjectsApi;
  let replicaOptions: ReplicaProcessOptions;
  /** Slot i: the replica behind proxies[i]. */
  const replicas: Replica[] = [];
  const proxies: TcpProxy[] = [];
  const edges: EdgeCore[] = [];
  /** When each edge connected, and to which address. */
  const connects: { at: number; server: string }[][] = [];

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.installCrds();
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    objects = kubeConfig.makeApiClient(CustomObjectsApi);
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-replicas-e2e-'));
    const pki = await CloudPki.open(join(dir, 'pki'));
    replicaOptions = {
      kubeconfig: cluster.kubeconfig,
      pkiDir: join(dir, 'pki'),
      statusIntervalMs: 200,
      keepaliveMs: 1_000,
      resendMs: 1_000,
      replication: {
        leader: { leaseDurationSeconds: 2, renewDeadlineMs: 1_500, retryPeriodMs: 250 },
        nodeLeases: { leaseDurationSeconds: 10, renewMs: 1_000 },
        garbage: { intervalMs: 5_000 },
      },
      logLevel: process.env.TEST_LOG ?? 'warn',
    };
    for (let slot = 0; slot < 2; slot++) {
      const replica = await startReplica(replicaOptions);
      replicas.push(replica);
      proxies.push(await startTcpProxy(hostPort(replica.url)));
    }
    await cluster.run(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [model, ...[...Array(EDGES).keys()].map(device)],
      }),
    );
    for (let i = 0; i < EDGES; i++) {
      const nodeDir = join(dir, nodeOf(i));
      const configFile = join(nodeDir, 'edge.yaml');
      // Half join through one replica, half through the other: the ledger is the cluster's, not a replica's.
      await joinCloud({
        cloud: proxies[i % 2]!.address,
        token: await pki.issueToken(600),
        nodeName: nodeOf(i),
        dataDir: nodeDir,
        configFile,
      });
      const joined = await loadEdgeConfig(configFile);
      const edge = new EdgeCore({
        config: joinedEdgeConfig(
          joined,
          { servers: proxies.map((p) => p.address), keepaliveSeconds: 1, reconnectMaxSeconds: 1 },
          { inProcessMappers: false, writeBehindMs: 0 },
        ),
        cloudLink: { resendMs: 1_000 },
      });
      connects.push([]);
      await edge.start();
      edge.edgeHub!.on('connected', (server: string) => connects[i]!.push({ at: Date.now(), server }));
      edges.push(edge);
    }
    await waitFor(
      'every edge holding its device',
      () => edges.every((e, i) => e.twinModule?.twins(`${NAMESPACE}/${deviceOf(i)}`)),
      60_000,
    );
  }, 900_000);

  afterAll(async () => {
    for (const edge of edges) await edge.stop();
    for (const replica of replicas) await stopReplica(replica);
    for (const proxy of proxies) await proxy.close();
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const statusTwins = async (i: number): Promise<StatusTwin[]> => {
    const status = (await objects
      .getNamespacedCustomObject({
        group: GROUP,
        version: 'v1beta1',
        namespace: NAMESPACE,
        plural: 'devicestatuses',
        name: deviceOf(i),
      })
      .catch(() => undefined)) as { status?: { twins?: StatusTwin[] } } | undefined;
    return status?.status?.twins ?? [];
  };
  const edgeValue = (i: number, prop: string) =>
    edges[i]!.twinModule?.twins(`${NAMESPACE}/${deviceOf(i)}`)?.[prop]?.actual?.value;
  const leaderHolder = async () =>
    (
      await kubeConfig
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: LEADER_LEASE, namespace: NAMESPACE })
    ).spec?.holderIdentity;

  it(
    'moves every edge of a killed (or hung) replica to the other, loses no report and misses no Device change',
    async () => {
      let running = true;
      let reports = 0;
      // Every edge reports all the time (each update committed before the next), 3 properties in turn.
      const reporters = edges.map(async (edge, i) => {
        const key = `${NAMESPACE}/${deviceOf(i)}`;
        for (let n = 1; running; n++) {
          const prop = PROPS[n % PROPS.length]!;
          const value = prop === 'p2' ? `v${n}` : String(n);
          const outcome = await edge.twinModule!.update(key, { [prop]: { actual: { value } } }, 'edge');
          expect(outcome.ok).toBe(true);
          reports++;
          await new Promise((resolve) => setTimeout(resolve, 20)); // pacing, ~50 reports/s per edge
        }
      });

      const figures = { killed: [] as number[], hung: [] as number[] };
      // KILLS rounds of SIGKILL, then one of SIGSTOP: a replica that hangs, its sockets open, answering nothing.
      for (let round = 1; round <= KILLS + 1; round++) {
        const hang = round > KILLS;
        await waitFor('every edge connected', () => edges.every((e) => e.edgeHub?.connected));
        const served = edges[0]!.edgeHub!.server!;
        const slot = proxies.findIndex((p) => p.address === served);
        const victim = replicas[slot]!;
        const survivor = replicas[1 - slot]!;
        const moving = edges.map((e, i) => (e.edgeHub?.server === served ? i : -1)).filter((i) => i >= 0);
        const reportsBefore = reports;
        await waitFor('reports flowing', () => reports > reportsBefore + 20);

        const lostAt = Date.now();
        if (hang) {
          pauseReplica(victim);
          // The last reports of all go to the hung replica (sent, and sent again, never answered) until the edges
          // give it up (no ping for 3 keepalives) and move.
          running = false;
          await Promise.all(reporters);
          for (const [i, edge] of edges.entries())
            for (const prop of PROPS) {
              const value = prop === 'p2' ? 'last' : '-1';
              const key = `${NAMESPACE}/${deviceOf(i)}`;
              expect((await edge.twinModule!.update(key, { [prop]: { actual: { value } } }, 'edge')).ok).toBe(
                true,
              );
              reports++;
            }
        } else await killReplica(victim);
        // A Device change while its edge is between replicas.
        const desired = String(1000 + round);
        await cluster.run([
          'patch',
          'device',
          deviceOf(0),
          '--type',
          'merge',
          '-p',
          JSON.stringify({ spec: { properties: properties(desired) } }),
        ]);
        for (const i of moving) {
          const back = await waitFor(
            `${nodeOf(i)} served again after round ${round}`,
            () => connects[i]!.find((c) => c.at > lostAt && c.server !== served),
            20_000,
          );
          figures[hang ? 'hung' : 'killed'].push(back.at - lostAt);
        }
        await waitFor(
          `desired ${desired} at ${nodeOf(0)}`,
          () => edges[0]!.twinModule?.twins(`${NAMESPACE}/${deviceOf(0)}`)?.p0?.expected?.value === desired,
        );
        // The leader Lease ends up with a live replica (after it expired, if the leader was the one lost).
        await waitFor('a live leader', async () => (await leaderHolder()) === survivor.identity, 20_000);
        if (hang) await killReplica(victim);
        else {
          // The killed replica comes back at the same address, as a pod behind its Service would.
          replicas[slot] = await startReplica(replicaOptions);
          proxies[slot]!.retarget(hostPort(replicas[slot]!.url));
        }
      }

      const lost = async () => {
        let missing = 0;
        for (let i = 0; i < EDGES; i++) {
          const twins = await statusTwins(i);
          for (const prop of PROPS)
            if (twins.find((t) => t.propertyName === prop)?.reported?.value !== edgeValue(i, prop)) missing++;
        }
        return missing;
      };
      await waitFor(
        'every last reported value in its DeviceStatus',
        async () => (await lost()) === 0,
        30_000,
      );
      const summary = (ms: number[]) => {
        const sorted = [...ms].sort((a, b) => a - b);
        return `p50 ${sorted[Math.floor((sorted.length - 1) / 2)]} ms, max ${sorted.at(-1)} ms (${sorted.length} edge moves)`;
      };
      console.log(
        `${EDGES} edges, 2 replicas: after a SIGKILL (${KILLS}×) served again ${summary(figures.killed)}; ` +
          `after a hang (SIGSTOP, keepalive 1 s) ${summary(figures.hung)}; ` +
          `${reports} reports made, last values lost: ${await lost()}`,
      );
      expect(await lost()).toBe(0);
    },
    180_000 + 20_000 * KILLS,
  );
});

function hostPort(url: string): { host: string; port: number } {
  const at = url.lastIndexOf(':');
  return { host: url.slice(0, at), port: Number(url.slice(at + 1)) };
}
