import { once } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { hubMessage, hubResources } from '../device-models/internal.js';
import { joinCloud } from '../edgecore/join.js';
import { silentLogger } from '../sdk/logger.js';
import { type Cluster, startCluster } from '../test/k8s/cluster.js';
import { connectNode } from '../test/support/hub-connect.js';
import { waitFor } from '../test/support/wait-for.js';
import { CloudCore } from './cloudcore.js';
import { JoinLedger } from './join-ledger.js';
import { LEDGER_SECRET, SecretLedgerStore } from './join-ledger-secret.js';
import { LEADER_LEASE, LeaderElection } from './leader.js';
import { Leases } from './lease.js';
import { nodeLeaseName } from './node-leases.js';
import { CloudPki } from './pki.js';

/**
 * Two cloudcore replicas in this process against a real kube-apiserver (1.20), sharing one PKI directory:
 * the leader Lease has one holder at a time and passes at once when its holder stops; only the leader
 * collects garbage; a node connected to both keeps its newer connection; the join ledger in a Secret is
 * the same whichever replica a node joins through.
 */

const GROUP = 'devices.kubeedge.io';
const NAMESPACE = 'default';

describe('cloudcore replicas: leader Lease, garbage, node Leases, shared join ledger', () => {
  let cluster: Cluster;
  let dir: string;
  let pki: CloudPki;
  let kubeConfig: KubeConfig;
  let objects: CustomObjectsApi;
  let leases: CoordinationV1Api;
  const replicas: CloudCore[] = [];
  const sockets: WebSocket[] = [];

  const startReplica = async (identity: string) => {
    const replica = new CloudCore({
      kubeconfig: cluster.kubeconfig,
      pkiDir: join(dir, 'pki'),
      host: '127.0.0.1',
      port: 0,
      keepaliveMs: 60_000,
      replication: {
        identity,
        // Long enough that a takeover within it can only come from the release on stop.
        leader: { leaseDurationSeconds: 30, renewDeadlineMs: 5_000, retryPeriodMs: 200 },
        nodeLeases: { leaseDurationSeconds: 10, renewMs: 200 },
        garbage: { intervalMs: 300 },
      },
      log: silentLogger,
    });
    await replica.start();
    replicas.push(replica);
    return replica;
  };
  const leaderLease = () => leases.readNamespacedLease({ name: LEADER_LEASE, namespace: NAMESPACE });

  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.installCrds();
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    objects = kubeConfig.makeApiClient(CustomObjectsApi);
    leases = kubeConfig.makeApiClient(CoordinationV1Api);
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-replicas-'));
    // The shared PKI is made once, before the replicas open it (as a Secret mounted into each pod would be).
    pki = await CloudPki.open(join(dir, 'pki'));
    await startReplica('replica-a');
    await startReplica('replica-b');
  }, 600_000);
  afterAll(async () => {
    for (const ws of sockets) ws.terminate();
    for (const replica of replicas) await replica.stop();
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const leaderOf = () => replicas.filter((r) => r.replication?.leader.isLeader);

  it('has one leader at a time, which renews the Lease it holds', async () => {
    const [leader] = await waitFor('a leader', () => leaderOf().length === 1 && leaderOf());
    const first = await leaderLease();
    expect(first.spec?.holderIdentity).toBe(leader!.replication!.identity);
    for (let renewals = 0; renewals < 3; renewals++) {
      const before = String(first.spec?.renewTime);
      await waitFor('a renewal', async () => String((await leaderLease()).spec?.renewTime) !== before);
      expect(leaderOf()).toEqual([leader]);
    }
    const now = await leaderLease();
    expect(now.spec).toMatchObject({
      holderIdentity: leader!.replication!.identity,
      leaseTransitions: first.spec?.leaseTransitions,
      leaseDurationSeconds: 30,
    });
    expect(now.metadata?.labels).toMatchObject({ 'edgetwin.io/lease': 'leader' });
  });

  it('deletes DeviceStatuses whose Device is gone, once, on the leader only', async () => {
    await cluster.run(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: `${GROUP}/v1beta1`,
        kind: 'List',
        items: [
          {
            apiVersion: `${GROUP}/v1beta1`,
            kind: 'DeviceModel',
            metadata: { name: 'gc-model', namespace: NAMESPACE },
            spec: { protocol: 'gc', properties: [{ name: 'p', type: 'INT', accessMode: 'ReadOnly' }] },
          },
          ...['kept', 'recreated'].map((name) => ({
            apiVersion: `${GROUP}/v1beta1`,
            kind: 'Device',
            metadata: { name, namespace: NAMESPACE },
            spec: { deviceModelRef: { name: 'gc-model' }, protocol: { protocolName: 'gc' } },
          })),
        ],
      }),
    );
    const uidOf = async (name: string) =>
      (
        (await objects.getNamespacedCustomObject({
          group: GROUP,
          version: 'v1beta1',
          namespace: NAMESPACE,
          plural: 'devices',
          name,
        })) as { metadata: { uid: string } }
      ).metadata.uid;
    const owned = (name: string, uid?: string) => ({
      apiVersion: `${GROUP}/v1beta1`,
      kind: 'DeviceStatus',
      metadata: {
        name,
        namespace: NAMESPACE,
        ...(uid
          ? {
              ownerReferences: [
                { apiVersion: `${GROUP}/v1beta1`, kind: 'Device', name, uid, controller: true },
              ],
            }
          : {}),
      },
    });
    const sweptBefore = replicas.map((r) => r.replication!.garbage.deleted);
    for (const body of [
      owned('kept', await uidOf('kept')),
      // Its Device was deleted and made again since: the owner named is another object.
      owned('recreated', '00000000-0000-0000-0000-000000000001'),
      owned('ghost', '00000000-0000-0000-0000-000000000002'),
      owned('unowned'),
    ])
      await objects.createNamespacedCustomObject({
        group: GROUP,
        version: 'v1beta1',
        namespace: NAMESPACE,
        plural: 'devicestatuses',
        body,
      });
    const names = async () =>
      (
        (await objects.listNamespacedCustomObject({
          group: GROUP,
          version: 'v1beta1',
          namespace: NAMESPACE,
          plural: 'devicestatuses',
        })) as { items: { metadata: { name: string } }[] }
      ).items
        .map((i) => i.metadata.name)
        .sort();
    const deleted = () => replicas.map((r, i) => r.replication!.garbage.deleted - sweptBefore[i]!);
    // The API server lists an object as gone before the sweep's delete call has returned (and counted it).
    await waitFor(
      'the orphans collected and counted',
      async () => (await names()).join() === 'kept,unowned' && deleted().reduce((a, b) => a + b) === 2,
    );
    const [leader] = leaderOf();
    expect(deleted().reduce((a, b) => a + b)).toBe(2);
    const counted = await leader!.replication!.metrics.garbage.get();
    expect(counted.values.find((v) => v.labels.kind === 'DeviceStatus')?.value).toBe(2);
    for (const replica of replicas)
      if (replica !== leader) expect(replica.replication!.garbage.sweeps).toBe(0);
  });

  it('hands the leader Lease over at once when its holder stops, long before it would expire', async () => {
    const [leader] = leaderOf();
    const follower = replicas.find((r) => r !== leader)!;
    const transitions = (await leaderLease()).spec?.leaseTransitions ?? 0;
    const stopped = Date.now();
    await leader!.stop();
    replicas.splice(replicas.indexOf(leader!), 1);
    await waitFor('the follower leading', () => follower.replication!.leader.isLeader, 10_000);
    const handedOverMs = Date.now() - stopped;
    const lease = await leaderLease();
    expect(lease.spec).toMatchObject({
      holderIdentity: follower.replication!.identity,
      leaseTransitions: transitions + 1,
    });
    // The new leader sweeps too; the garbage was collected already, so it finds none.
    await waitFor('a sweep by the new leader', () => follower.replication!.garbage.sweeps > 0);
    console.log(`leader handover after a graceful stop: ${handedOverMs} ms (lease duration 30 s)`);
    // Back to two replicas for what follows.
    await startReplica('replica-c');
  });

  it('waits for a Lease whose holder died to expire before taking it', async () => {
    const name = 'edgetwin-test-expiry';
    const direct = new Leases(kubeConfig, NAMESPACE);
    const now = new Date();
    await direct.create(name, {
      holder: 'killed-replica',
      durationSeconds: 2,
      acquireTime: now,
      renewTime: now,
      transitions: 0,
    });
    const elector = new LeaderElection({
      kubeConfig,
      namespace: NAMESPACE,
      name,
      identity: 'survivor',
      leaseDurationSeconds: 2,
      renewDeadlineMs: 1_500,
      retryPeriodMs: 100,
      log: silentLogger,
    });
    const started = Date.now();
    elector.start();
    try {
      await waitFor('the dead holder seen', () => elector.holder === 'killed-replica');
      expect(elector.isLeader).toBe(false);
      await waitFor('the survivor leading', () => elector.isLeader, 10_000);
      // Expiry is judged by the survivor's own clock, from when it first saw the Lease as it was.
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
      expect((await direct.get(name))?.transitions).toBe(1);
    } finally {
      await elector.stop();
    }
    expect((await direct.get(name))?.holder).toBeUndefined();
  });

  /** `edgetwin join` as `node` through `cloud`; resolves to where its certificates are. */
  async function joinAs(node: string, token: string, cloud: string, subdir = node): Promise<string> {
    const nodeDir = join(dir, 'nodes', subdir);
    await joinCloud({
      cloud,
      token,
      nodeName: node,
      dataDir: nodeDir,
      configFile: join(nodeDir, 'edge.yaml'),
    });
    return join(nodeDir, 'certs');
  }

  const connect = (certs: string, url: string) => connectNode(certs, url, sockets);

  it('shares the join ledger: a token spent on one replica is spent on all, and a node joined anywhere connects anywhere', async () => {
    const [a, b] = replicas.map((r) => r.url);
    const token = await pki.issueToken(600);
    const certs = await joinAs('gateway-1', token, a!);
    await expect(joinAs('gateway-2', token, b!)).rejects.toThrow(/\(401\): token has already been used/);
    await expect(joinAs('gateway-1', await pki.issueToken(600), b!, 'again')).rejects.toThrow(
      /\(409\): node "gateway-1" has already joined/,
    );
    expect((await connect(certs, b!)).status).toBe(101);
    const secret = await kubeConfig
      .makeApiClient(CoreV1Api)
      .readNamespacedSecret({ name: LEDGER_SECRET, namespace: NAMESPACE });
    const ledger = JSON.parse(Buffer.from(secret.data!['ledger.json']!, 'base64').toString()) as {
      nodes: Record<string, unknown>;
    };
    expect(Object.keys(ledger.nodes)).toContain('gateway-1');
    // A --force join through one replica shuts the old certificate out of the other.
    const replaced = await joinAs(
      'gateway-1',
      await pki.issueToken(600, new Date(), { node: 'gateway-1', force: true }),
      b!,
      'replaced',
    );
    expect((await connect(certs, a!)).status).toBe(401);
    expect((await connect(replaced, a!)).status).toBe(101);
  });

  it('keeps the newer connection of a node connected to two replicas; the older one is dropped', async () => {
    const [a, b] = replicas;
    const certs = await joinAs('gateway-3', await pki.issueToken(600), a!.url);
    const older = await connect(certs, a!.url);
    expect(older.status).toBe(101);
    const lease = () =>
      leases.readNamespacedLease({ name: nodeLeaseName('gateway-3'), namespace: NAMESPACE });
    await waitFor('held by a', async () => (await lease()).spec?.holderIdentity === a!.replication!.identity);
    const closed = once(older.ws, 'close') as Promise<[number, Buffer]>;
    const newer = await connect(certs, b!.url);
    expect(newer.status).toBe(101);
    const [code, reason] = await closed;
    expect([code, reason.toString()]).toEqual([4002, 'the node connected to another cloudcore replica']);
    expect((await lease()).spec).toMatchObject({
      holderIdentity: b!.replication!.identity,
      leaseTransitions: 1,
    });
    await waitFor('a has let the node go', () => !a!.cloudHub!.nodes.includes('gateway-3'));
    expect(b!.cloudHub!.nodes).toContain('gateway-3');
    // The edge's keepalive carries its outbox depth; each replica says where the node is connected.
    newer.ws.send(
      JSON.stringify(
        hubMessage('edgehub', 'keepalive', hubResources.keepalive('gateway-3'), { outboxDepth: 7 }),
      ),
    );
    const gauge = async (replica: CloudCore, name: string) =>
      (await replica.replication!.metrics.registry.getSingleMetricAsString(name))
        .split('\n')
        .find((l) => l.includes('node="gateway-3"'));
    await waitFor('the outbox depth on b', async () =>
      (await gauge(b!, 'edgetwin_cloudcore_node_outbox_depth'))?.endsWith(' 7'),
    );
    expect(await gauge(b!, 'edgetwin_cloudcore_node_connected')).toMatch(/ 1$/);
    expect(await gauge(a!, 'edgetwin_cloudcore_node_connected')).toMatch(/ 0$/);
    expect(await gauge(a!, 'edgetwin_cloudcore_node_outbox_depth')).toBeUndefined();
    // Its connection closed, the Lease goes with it.
    newer.ws.close();
    await waitFor('the node lease deleted', async () => (await lease().catch(() => undefined)) === undefined);
  });

  it("carries a ledger file over into a Secret that does not exist yet (a single cloudcore's joins survive the move)", async () => {
    const fileLedger = await JoinLedger.open(join(dir, 'pki'));
    expect(fileLedger.node('gateway-1')).toBeUndefined(); // the replicas never wrote the file
    await fileLedger.update(async (l) =>
      l.setNode('old-gateway', { certSha256: 'ab'.repeat(32), joinedAt: new Date(0).toISOString() }),
    );
    const store = new SecretLedgerStore(kubeConfig, NAMESPACE, 'edgetwin-join-ledger-moved');
    await fileLedger.useStore(store);
    expect((await store.read()).data.nodes['old-gateway']).toMatchObject({ certSha256: 'ab'.repeat(32) });
    expect(fileLedger.where).toBe(`Secret ${NAMESPACE}/edgetwin-join-ledger-moved`);
    // A Secret that holds a ledger already is not overwritten by a file.
    await mkdir(join(dir, 'other-pki'));
    const other = await JoinLedger.open(join(dir, 'other-pki'));
    await other.update(async (l) => l.setNode('stray', { certSha256: 'cd'.repeat(32), joinedAt: '' }));
    await other.useStore(store);
    expect(Object.keys((await store.read()).data.nodes)).toEqual(['old-gateway']);
    // Read only (edgetwin token checking the cluster's ledger): nothing is carried over or written.
    const reader = await JoinLedger.open(join(dir, 'other-pki'));
    const version = (await store.read()).version;
    await reader.useStore(store, { carryOver: false });
    expect(reader.node('old-gateway')).toBeDefined();
    expect((await store.read()).version).toBe(version);
  });
});
