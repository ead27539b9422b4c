import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudPki } from '../../cloudcore/pki.js';
import { type Cluster, startCluster } from '../k8s/cluster.js';
import {
  createFleetDevices,
  fleetDevice,
  fleetNode,
  fleetProperties,
  reportedValues,
} from '../support/fleet-devices.js';
import { FleetEdge } from '../support/fleet-edge.js';
import {
  type CloudProcess,
  killCloudProcess,
  startCloudProcess,
  stopCloudProcess,
} from '../support/fleet-replicas.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Issue 17's "done when", as an operator would see it: two `edgetwin cloud` replicas (processes, one shared
 * PKI) against a real kube-apiserver, a small fleet of edges (FleetEdge: the real EdgeHub with its outbox, the
 * real SQLite store) given both replicas, every device reporting without pause. The replica serving the most
 * edges is SIGKILLed mid-run: every edge must be served again by the other, and once reporting stops, every
 * property's last reported value must be in its DeviceStatus. Then `kubectl get devices` shows state and sync
 * for every device, and `kubectl describe device` the conditions and the Event of a device gone offline.
 * (The same harness, scaled up, is the fleet benchmark: npm run bench:fleet.)
 */

const NAMESPACE = 'default';
const EDGES = 4;
const DEVICES = 5;
const PROPERTIES = fleetProperties(2);

describe('a fleet on two cloudcore replicas survives losing one, and kubectl shows it', () => {
  let cluster: Cluster;
  let dir: string;
  let kubeConfig: KubeConfig;
  const replicas: CloudProcess[] = [];
  const edges: FleetEdge[] = [];
  /** Per edge, when it connected and to which replica. */
  const connects: { at: number; server: string }[][] = [];
  const ids = (e: number) => [...Array(DEVICES).keys()].map((d) => `${NAMESPACE}/${fleetDevice(e, d)}`);

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.installCrds();
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-fleet-e2e-'));
    const pkiDir = join(dir, 'pki');
    const pki = await CloudPki.open(pkiDir, { hosts: ['127.0.0.1'] });
    for (const id of ['fleet-a', 'fleet-b'])
      replicas.push(
        await startCloudProcess({
          id,
          kubeconfig: cluster.kubeconfig,
          pkiDir,
          statusIntervalMs: 200,
          keepaliveSeconds: 1,
          leaderLeaseSeconds: 2,
          logLevel: process.env.TEST_LOG ?? 'warn',
        }),
      );
    await createFleetDevices(kubeConfig, {
      namespace: NAMESPACE,
      edges: EDGES,
      devices: DEVICES,
      properties: PROPERTIES.length,
    });
    for (let e = 0; e < EDGES; e++) {
      // Half join through one replica, half through the other.
      const edge = await FleetEdge.join({
        nodeName: fleetNode(e),
        dataDir: join(dir, fleetNode(e)),
        join: replicas[e % 2]!.url,
        token: await pki.issueToken(600),
        servers: replicas.map((r) => r.url),
        writeBehindMs: 200,
        keepaliveSeconds: 1,
        reconnectMaxSeconds: 1,
        resendMs: 1_000,
      });
      connects.push([]);
      edge.hub.on('connected', (server: string) => connects[e]!.push({ at: Date.now(), server }));
      edges.push(edge);
      await edge.start();
    }
    await waitFor(
      'every edge connected, holding its devices',
      () => edges.every((edge, e) => edge.hub.connected && ids(e).every((id) => edge.holds(id))),
      30_000,
    );
    for (const [e, edge] of edges.entries()) for (const id of ids(e)) await edge.setState(id, 'online');
  }, 120_000);

  afterAll(async () => {
    for (const edge of edges) await edge.stop();
    for (const replica of replicas) await stopCloudProcess(replica);
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Properties whose last value at the edge is not (yet) in their DeviceStatus. */
  const missing = async () => {
    const listed = await reportedValues(kubeConfig, NAMESPACE);
    let count = 0;
    for (const [e, edge] of edges.entries())
      for (const id of ids(e))
        for (const property of PROPERTIES) {
          const name = id.slice(NAMESPACE.length + 1);
          const value = edge.reportedValue(id, property);
          if (value === undefined || listed.get(name)?.get(property) !== value) count++;
        }
    return count;
  };

  it('moves every edge of the replica killed to the other and loses no last reported value', async () => {
    let running = true;
    let rounds = 0;
    // Every device reports every property about ten times a second, until told to stop.
    const reporting = (async () => {
      for (let round = 1; running; round++) {
        for (const [e, edge] of edges.entries())
          for (const id of ids(e))
            expect(edge.report(id, Object.fromEntries(PROPERTIES.map((p) => [p, `${p}-${round}`])))).toBe(
              true,
            );
        rounds = round;
        await new Promise((resolve) => setTimeout(resolve, 100)); // pacing, not synchronisation
      }
    })();
    await waitFor(
      'a reported value in every DeviceStatus',
      async () => {
        const listed = await reportedValues(kubeConfig, NAMESPACE);
        return (
          [...listed.values()].filter((twins) => PROPERTIES.every((p) => twins.get(p))).length ===
          EDGES * DEVICES
        );
      },
      30_000,
      250,
    );

    const servedBy = (replica: CloudProcess) => edges.filter((e) => e.hub.server === replica.url).length;
    const victim = servedBy(replicas[0]!) >= servedBy(replicas[1]!) ? replicas[0]! : replicas[1]!;
    const moving = edges.flatMap((edge, e) => (edge.hub.server === victim.url ? [e] : []));
    expect(moving.length).toBeGreaterThan(0);
    const roundsBefore = rounds;
    const killedAt = Date.now();
    await killCloudProcess(victim);
    for (const e of moving)
      await waitFor(
        `${fleetNode(e)} served again by the other replica`,
        () => connects[e]!.find((c) => c.at >= killedAt && c.server !== victim.url),
        20_000,
      );
    expect(edges.every((edge) => edge.hub.connected && edge.hub.server !== victim.url)).toBe(true);
    // Reports go on after the move, then stop: the last of them must all reach Kubernetes.
    await waitFor('reports after the move', () => rounds > roundsBefore + 10, 20_000);
    running = false;
    await reporting;
    await waitFor(
      'every last reported value in its DeviceStatus',
      async () => (await missing()) === 0,
      30_000,
      250,
    );
  }, 90_000);

  it('shows state, sync, conditions and Events in kubectl get and describe', async () => {
    const offline = fleetDevice(0, 0);
    await edges[0]!.setState(`${NAMESPACE}/${offline}`, 'offline');

    // NAME MODEL NODE STATE SYNCED AGE: every device with its state, and its twins in sync (no desired values).
    const table = async () => {
      const lines = (await cluster.run(['get', 'devices', '--no-headers'])).trim().split('\n');
      return new Map(lines.map((line) => line.trim().split(/\s+/)).map((cells) => [cells[0]!, cells]));
    };
    const rows = await waitFor(
      'kubectl get devices showing every state',
      async () => {
        const rows = await table();
        const ready = [...Array(EDGES).keys()].every((e) =>
          [...Array(DEVICES).keys()].every((d) => {
            const row = rows.get(fleetDevice(e, d));
            const state = fleetDevice(e, d) === offline ? 'offline' : 'online';
            return row?.[3] === state && row[4] === 'True';
          }),
        );
        return ready && rows;
      },
      30_000,
      250,
    );
    expect(rows.size).toBe(EDGES * DEVICES);
    const header = (await cluster.run(['get', 'devices'])).split('\n')[0]!;
    expect(header.split(/\s+/).slice(0, 5)).toEqual(['NAME', 'MODEL', 'NODE', 'STATE', 'SYNCED']);

    // describe: the conditions, and the Event of the device going offline.
    const described = await waitFor(
      `kubectl describe device ${offline} with its DeviceOffline Event`,
      async () => {
        const text = await cluster.run(['describe', 'device', offline]);
        return /DeviceOffline/.test(text) && text;
      },
      30_000,
      250,
    );
    for (const condition of ['Reachable', 'TwinSynced', 'MapperReady'])
      expect(described).toMatch(new RegExp(`Type:\\s+${condition}`));
    expect(described).toMatch(/Events:[\s\S]*Warning\s+DeviceOffline/);
    const status = await cluster.run(['describe', 'devicestatus', offline]);
    expect(status).toMatch(/Type:\s+Reachable/);
  }, 60_000);
});
