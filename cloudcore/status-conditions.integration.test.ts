import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MsgTwin } from '../device-models/index.js';
import { silentLogger } from '../sdk/logger.js';
import { type Cluster, startCluster } from '../test/k8s/cluster.js';
import { DeviceController } from './device-controller.js';
import { CloudMetrics } from './metrics.js';
import { FIELD_MANAGERS } from './status-api.js';
import { StatusWriter, type StatusWriterContext } from './status-writer.js';

/**
 * Device status as Kubernetes users read it, against a real kube-apiserver (1.20): several writers on one
 * device, conditions, Events, printer columns, and what is not written. The Devices come from a real
 * DeviceController; what Kubernetes holds is read back with kubectl and the client.
 */

const GROUP = 'devices.kubeedge.io';
const ts = 1_700_000_000_000;

const twin = (actual?: string, expected?: string, reason?: string): MsgTwin => ({
  ...(actual !== undefined
    ? { actual: { value: actual, metadata: { timestamp: ts, ...(reason ? { reason } : {}) } } }
    : {}),
  ...(expected !== undefined ? { expected: { value: expected, metadata: { timestamp: ts } } } : {}),
  metadata: { type: 'float' },
});

const device = (name: string, desired?: string) => ({
  apiVersion: `${GROUP}/v1beta1`,
  kind: 'Device',
  metadata: { name, namespace: 'default' },
  spec: {
    deviceModelRef: { name: 'thermostat' },
    nodeName: 'node-a',
    protocol: { protocolName: 'modbus' },
    properties: [{ name: 'setpoint', ...(desired !== undefined ? { desired: { value: desired } } : {}) }],
  },
});

const model = {
  apiVersion: `${GROUP}/v1beta1`,
  kind: 'DeviceModel',
  metadata: { name: 'thermostat', namespace: 'default' },
  spec: { protocol: 'modbus', properties: [{ name: 'setpoint', type: 'FLOAT', accessMode: 'ReadWrite' }] },
};

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

describe('device status as Kubernetes users read it (a real kube-apiserver)', () => {
  let cluster: Cluster;
  let kubeConfig: KubeConfig;
  let controller: DeviceController;
  let core: CoreV1Api;
  const writers: StatusWriter[] = [];
  const deleted: string[] = [];
  const deletionSeen = new Map<string, () => void>();
  const upserts = new Map<string, () => void>();

  const writer = (options: Partial<StatusWriterContext> = {}) => {
    const w = new StatusWriter({
      kubeConfig,
      log: silentLogger,
      intervalMs: 20,
      target: 'DeviceStatus',
      device: (key) => controller.device(key),
      metrics: new CloudMetrics(),
      ...options,
    });
    writers.push(w);
    return w;
  };
  const getJson = async (kind: string, name: string) =>
    JSON.parse(await cluster.run(['get', kind, name, '-o', 'json']));
  const valuesOf = (object: {
    status?: { twins?: { propertyName: string; reported?: { value: string } }[] };
  }) => Object.fromEntries((object.status?.twins ?? []).map((t) => [t.propertyName, t.reported?.value]));
  const conditionsOf = (object: { status?: { conditions?: Condition[] } }) =>
    Object.fromEntries((object.status?.conditions ?? []).map((c) => [c.type, c]));
  const eventsOf = async (name: string) =>
    (await core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${name}` }))
      .items;
  const startController = async () => {
    controller = new DeviceController({
      kubeConfig,
      log: silentLogger,
      sink: { upsert: (_node, entry) => upserts.get(entry.key)?.(), remove() {} },
      deleted: (key) => {
        for (const w of writers) w.forget(key);
        deleted.push(key);
        deletionSeen.get(key)?.();
      },
    });
    await controller.start();
  };

  beforeAll(async () => {
    cluster = await startCluster(); // a cold build of kube-apiserver takes minutes
    await cluster.installCrds();
    const items = [
      model,
      ...['shared', 'cond', 'flap', 'same', 'gone', 'legacy'].map((n) => device(n, '22')),
      device('plain'),
    ];
    await cluster.run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    core = kubeConfig.makeApiClient(CoreV1Api);
    await startController();
  }, 600_000);

  afterAll(async () => {
    await Promise.all(writers.map((w) => w.stop()));
    await controller?.stop();
    await cluster?.stop();
  });

  it('why every twin is applied: a field manager applying only the changed twin removes the ones it left out', async () => {
    const api = kubeConfig.makeApiClient(CustomObjectsApi);
    await cluster.run(
      ['apply', '-f', '-'],
      JSON.stringify({ ...device('plain'), kind: 'DeviceStatus', spec: {} }),
    );
    const apply = (twins: { propertyName: string; reported: { value: string } }[]) =>
      api.patchNamespacedCustomObjectStatus(
        {
          group: GROUP,
          version: 'v1beta1',
          namespace: 'default',
          plural: 'devicestatuses',
          name: 'plain',
          fieldManager: FIELD_MANAGERS.twins,
          force: true,
          body: {
            apiVersion: `${GROUP}/v1beta1`,
            kind: 'DeviceStatus',
            metadata: { name: 'plain' },
            status: { twins },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      );
    await apply([
      { propertyName: 'a', reported: { value: '1' } },
      { propertyName: 'b', reported: { value: '1' } },
    ]);
    await apply([{ propertyName: 'a', reported: { value: '2' } }]);
    expect(valuesOf(await getJson('devicestatus', 'plain'))).toEqual({ a: '2' });
  });

  it('two writers reporting different twins of one device at once lose nothing (server-side apply)', async () => {
    const [a, b] = [writer(), writer()];
    const rounds = 15;
    const reports: Promise<void>[] = [];
    for (let i = 0; i < rounds; i++) {
      reports.push(a.reportTwins('default/shared', { [`a${i % 4}`]: twin(String(i)) }));
      reports.push(b.reportTwins('default/shared', { [`b${i % 4}`]: twin(String(100 + i)) }));
      if (i % 5 === 4) await Promise.all(reports.splice(0)); // rounds in flight on both writers at once
    }
    await Promise.all(reports);
    expect(valuesOf(await getJson('devicestatus', 'shared'))).toEqual({
      a0: '12',
      a1: '13',
      a2: '14',
      a3: '11',
      b0: '112',
      b1: '113',
      b2: '114',
      b3: '111',
    });
  });

  it('Reachable, TwinSynced and MapperReady follow state and sync, in DeviceStatus and in Device.status', async () => {
    const w = writer();
    await w.reportState('default/cond', 'online', '2026-11-23T10:00:00Z');
    let status = await getJson('devicestatus', 'cond');
    const generation = (await getJson('device', 'cond')).metadata.generation;
    expect(conditionsOf(status)).toMatchObject({
      Reachable: { status: 'True', reason: 'DeviceOnline', observedGeneration: generation },
      TwinSynced: {
        status: 'False',
        reason: 'DesiredNotReported',
        message: 'not in sync: setpoint (not reported)',
      },
      MapperReady: { status: 'True', reason: 'MapperReporting' },
    });
    expect(status.status).toMatchObject({ state: 'online', observedGeneration: generation });
    expect(Date.parse(status.status.lastSeen)).toBeGreaterThan(Date.now() - 60_000);
    const reachableSince = conditionsOf(status).Reachable?.lastTransitionTime;

    await w.reportTwins('default/cond', { setpoint: twin('20', '22') });
    expect(conditionsOf(await getJson('devicestatus', 'cond')).TwinSynced).toMatchObject({
      status: 'False',
      message: 'not in sync: setpoint',
    });
    await w.reportTwins('default/cond', { setpoint: twin('22.0', '22') }); // the same float as 22
    status = await getJson('devicestatus', 'cond');
    expect(conditionsOf(status).TwinSynced).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(conditionsOf(status).Reachable?.lastTransitionTime).toBe(reachableSince); // its status did not move

    await w.reportState('default/cond', 'offline');
    status = await getJson('devicestatus', 'cond');
    expect(conditionsOf(status)).toMatchObject({
      Reachable: { status: 'False', reason: 'DeviceOffline' },
      TwinSynced: { status: 'True' },
      MapperReady: { status: 'True' },
    });
    expect(status.status.lastOnlineTime).toBe('2026-11-23T10:00:00Z');
    // Device.status carries state and conditions (what `kubectl get devices` prints), not the twins.
    const dev = await getJson('device', 'cond');
    expect(dev.status.state).toBe('offline');
    expect(conditionsOf(dev).Reachable).toMatchObject({ status: 'False', reason: 'DeviceOffline' });
    expect(dev.status.twins).toBeUndefined();
    expect(dev.status.observedGeneration).toBe(generation);
  });

  it('a new desired value in the Device makes TwinSynced False at the next report, for the new generation', async () => {
    const w = writer();
    const seen = new Promise<void>((resolve) => upserts.set('default/cond', resolve));
    await cluster.run([
      'patch',
      'device',
      'cond',
      '--type',
      'json',
      '-p',
      JSON.stringify([{ op: 'replace', path: '/spec/properties/0/desired/value', value: '25' }]),
    ]);
    await seen;
    const { generation } = controller.device('default/cond')!.metadata as unknown as { generation: number };
    await w.reportTwins('default/cond', { setpoint: twin('22', '25') });
    const status = await getJson('devicestatus', 'cond');
    expect(conditionsOf(status).TwinSynced).toMatchObject({
      status: 'False',
      reason: 'DesiredNotReported',
      observedGeneration: generation,
    });
    expect(status.status.observedGeneration).toBe(generation);
  });

  it('Events: DeviceOffline/DeviceOnline on state changes, counted (not repeated) while a device flaps', async () => {
    const w = writer({ events: { updateMs: 0 } });
    const uid = (await getJson('device', 'flap')).metadata.uid;
    await w.reportState('default/flap', 'online');
    for (let i = 0; i < 3; i++) {
      await w.reportState('default/flap', 'offline');
      await w.reportState('default/flap', 'online');
    }
    await w.flushEvents();
    const events = await eventsOf('flap');
    const byReason = Object.fromEntries(events.map((e) => [e.reason, e]));
    expect(events).toHaveLength(2);
    expect(byReason.DeviceOffline).toMatchObject({
      type: 'Warning',
      count: 3,
      message: 'the mapper reports the device offline',
      involvedObject: { kind: 'Device', name: 'flap', namespace: 'default', uid },
      source: { component: 'edgetwin-cloudcore' },
    });
    expect(byReason.DeviceOnline).toMatchObject({ type: 'Normal', count: 4 });
  });

  it('Events: DesiredValueRefused when the edge reports why a desired value is not held; rate-limited per device', async () => {
    const metrics = new CloudMetrics();
    const w = writer({ metrics, events: { burst: 2, refillMs: 3_600_000 } });
    await w.reportTwins('default/cond', { setpoint: twin('25', '99', 'out of range: maximum 30') });
    await w.reportTwins('default/cond', { setpoint: twin('25', '99', 'out of range: maximum 30') }); // the same
    await w.reportTwins('default/cond', { setpoint: twin('25', '98', 'refused by the device') });
    await w.reportTwins('default/cond', { setpoint: twin('25', '97', 'refused again') }); // beyond the burst
    await w.flushEvents();
    const refused = (await eventsOf('cond')).filter((e) => e.reason === 'DesiredValueRefused');
    expect(refused.map((e) => [e.type, e.message])).toEqual([
      ['Warning', 'setpoint: the device holds 25 instead of 99: out of range: maximum 30'],
      ['Warning', 'setpoint: the device holds 25 instead of 98: refused by the device'],
    ]);
    expect(await CloudMetrics.sum(metrics.events, { reason: 'DesiredValueRefused', result: 'dropped' })).toBe(
      1,
    );
    const status = await getJson('devicestatus', 'cond');
    expect(conditionsOf(status).TwinSynced).toMatchObject({
      status: 'False',
      reason: 'DesiredValueRefused',
      message: 'not in sync: setpoint (refused again)',
    });
    expect(status.status.twins[0].reported.metadata.reason).toBe('refused again');
  });

  it('writes nothing for reports that repeat what Kubernetes holds', async () => {
    const metrics = new CloudMetrics();
    const w = writer({ metrics });
    await w.reportState('default/same', 'online');
    await w.reportTwins('default/same', { setpoint: twin('21', '22') });
    const before = await CloudMetrics.sum(metrics.statusPatches);
    const rv = (await getJson('devicestatus', 'same')).metadata.resourceVersion;
    for (let i = 1; i <= 5; i++) {
      const later = { ...twin('21', '22'), actual: { value: '21.0', metadata: { timestamp: ts + i } } };
      await Promise.all([
        w.reportTwins('default/same', { setpoint: later }),
        w.reportState('default/same', 'online', new Date().toISOString()),
      ]);
    }
    expect(await CloudMetrics.sum(metrics.statusPatches)).toBe(before);
    expect(await CloudMetrics.sum(metrics.statusUnchanged)).toBe(5);
    expect((await getJson('devicestatus', 'same')).metadata.resourceVersion).toBe(rv);
  });

  it('a twin another field manager also owns (an older cloudcore merge-patched it) is still deleted', async () => {
    const api = kubeConfig.makeApiClient(CustomObjectsApi);
    const w = writer();
    await w.reportTwins('default/legacy', { kept: twin('1') });
    await api.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: 'v1beta1',
        namespace: 'default',
        plural: 'devicestatuses',
        name: 'legacy',
        body: {
          status: {
            twins: [
              { propertyName: 'kept', reported: { value: '1' } },
              { propertyName: 'old', reported: { value: '7' } },
            ],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const fresh = writer(); // reads what the merge patch left
    await fresh.reportTwins('default/legacy', { old: twin('8') });
    await fresh.reportTwins('default/legacy', { old: null });
    expect(valuesOf(await getJson('devicestatus', 'legacy'))).toEqual({ kept: '1' });
  });

  it('forgets a deleted device: its pending report resolves unwritten, and nothing is kept for it', async () => {
    const metrics = new CloudMetrics();
    const w = writer({ metrics, intervalMs: 600_000 });
    const other = writer();
    await other.reportTwins('default/gone', { setpoint: twin('1') });
    expect(other.tracked).toBe(1);
    const report = w.reportTwins('default/gone', { setpoint: twin('2') });
    expect(w.tracked).toBe(1);
    const seen = new Promise<void>((resolve) => deletionSeen.set('default/gone', resolve));
    await cluster.run(['delete', 'device', 'gone']);
    await seen;
    await report;
    expect(deleted).toContain('default/gone');
    expect([w.tracked, other.tracked]).toEqual([0, 0]);
    expect(await CloudMetrics.sum(metrics.statusPatches)).toBe(0);
  });

  it('kubectl get devices / devicestatuses print state, sync and reachability', async () => {
    const devices = await cluster.run(['get', 'devices', 'cond', 'shared', 'plain']);
    const [header, ...rows] = devices.trim().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['NAME', 'MODEL', 'NODE', 'STATE', 'SYNCED', 'AGE']);
    const row = (name: string) => rows.find((r) => r.startsWith(`${name} `))?.split(/\s+/);
    expect(row('cond')?.slice(0, 5)).toEqual(['cond', 'thermostat', 'node-a', 'offline', 'False']);
    expect(row('plain')?.slice(0, 3)).toEqual(['plain', 'thermostat', 'node-a']);

    const wide = await cluster.run(['get', 'devices', 'cond', '-o', 'wide']);
    expect(wide.split('\n')[0]?.split(/\s{2,}/)).toEqual([
      'NAME',
      'MODEL',
      'NODE',
      'STATE',
      'SYNCED',
      'AGE',
      'PROTOCOL',
      'REACHABLE',
      'MAPPER',
    ]);
    expect(wide.split('\n')[1]?.split(/\s+/).slice(-3)).toEqual(['modbus', 'False', 'True']);

    const statuses = await cluster.run(['get', 'devicestatuses', 'cond']);
    expect(statuses.split('\n')[0]?.split(/\s{2,}/)).toEqual(['NAME', 'STATE', 'SYNCED', 'LAST SEEN', 'AGE']);
    expect(statuses.split('\n')[1]?.split(/\s+/).slice(0, 3)).toEqual(['cond', 'offline', 'False']);

    const described = await cluster.run(['describe', 'device', 'flap']);
    expect(described).toMatch(
      /Events:[\s\S]*Warning\s+DeviceOffline\s+.*the mapper reports the device offline/,
    );
  });

  describe("on KubeEdge's CRDs (a merge patch of the Device itself)", () => {
    beforeAll(async () => {
      await controller.stop();
      await cluster.deleteCrds();
      await cluster.installCrds('kubeedge');
      const items = [model, device('k1', '5')];
      await cluster.run(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
      await startController();
    }, 120_000);

    it('two writers reporting different twins of one device at once lose nothing (resourceVersion precondition)', async () => {
      const [a, b] = [writer(), writer()];
      const reports: Promise<void>[] = [];
      for (let i = 0; i < 10; i++) {
        reports.push(a.reportTwins('default/k1', { [`a${i % 3}`]: twin(String(i)) }));
        reports.push(b.reportTwins('default/k1', { [`b${i % 3}`]: twin(String(100 + i)) }));
        if (i % 5 === 4) await Promise.all(reports.splice(0));
      }
      await Promise.all(reports);
      const k1 = await getJson('device', 'k1');
      expect(valuesOf(k1)).toEqual({ a0: '9', a1: '7', a2: '8', b0: '109', b1: '107', b2: '108' });
      expect(k1.spec.properties[0].desired.value).toBe('5');
    });

    it('writes the conditions into Device.status (kept as unknown fields), without observedGeneration', async () => {
      const w = writer();
      await w.reportState('default/k1', 'unhealthy');
      const k1 = await getJson('device', 'k1');
      expect(conditionsOf(k1).Reachable).toMatchObject({ status: 'False', reason: 'DeviceUnhealthy' });
      expect(conditionsOf(k1).Reachable?.observedGeneration).toBeUndefined();
      expect(k1.status.observedGeneration).toBeUndefined();
      await w.flushEvents();
      expect((await eventsOf('k1')).map((e) => e.reason)).toEqual(['DeviceUnhealthy']);
    });
  });
});
