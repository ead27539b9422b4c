import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { MsgTwin, MsgTwinMap } from '../device-models/index.js';
import { silentLogger } from '../sdk/logger.js';
import { type LogLine, recordingLogger as recordingLines } from '../sdk/testing/recording-logger.js';
import { type Cluster, startCluster } from '../test/k8s/cluster.js';
import { startTcpProxy, type TcpProxy } from '../test/support/tcp-proxy.js';
import { waitFor } from '../test/support/wait-for.js';
import { DeviceController } from './device-controller.js';
import { SharedAgentKubeConfig } from './kube-config.js';
import { CloudMetrics } from './metrics.js';
import { StatusWriter } from './status-writer.js';

/**
 * The StatusWriter against a real kube-apiserver (1.20) with the device CRDs; the Devices it reports for
 * come from a real DeviceController. A TCP proxy in front of the API server cuts the link on demand.
 */

const twin = (actual?: string, expected?: string, ts = 1_700_000_000_000): MsgTwin => ({
  ...(actual !== undefined ? { actual: { value: actual, metadata: { timestamp: ts } } } : {}),
  ...(expected !== undefined ? { expected: { value: expected, metadata: { timestamp: ts } } } : {}),
  metadata: { type: 'float' },
});

const device = (name: string) => ({
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: { name, namespace: 'default' },
  spec: { deviceModelRef: { name: 'm' }, nodeName: 'node-a', protocol: { protocolName: 'modbus' } },
});

/** Every line logged, and the warnings among them (as they come). */
function recordingLogger() {
  const { log, lines } = recordingLines();
  const warnings: LogLine[] = [];
  const warn = log.warn;
  log.warn = (obj, msg) => {
    warn(obj, msg);
    warnings.push(lines.at(-1)!);
  };
  return { log, lines, warnings };
}

describe('StatusWriter against a real kube-apiserver', () => {
  let cluster: Cluster;
  let kubeConfig: KubeConfig;
  let controller: DeviceController;
  const writers: StatusWriter[] = [];
  const metricsOf = new Map<StatusWriter, CloudMetrics>();
  const writer = (options: Partial<ConstructorParameters<typeof StatusWriter>[0]> = {}) => {
    const metrics = new CloudMetrics();
    const w = new StatusWriter({
      kubeConfig,
      log: silentLogger,
      intervalMs: 200,
      target: 'DeviceStatus',
      device: (key) => controller.device(key),
      metrics,
      ...options,
    });
    writers.push(w);
    metricsOf.set(w, metrics);
    return w;
  };
  /** Status writes of one concern (twins, state, device, all) this writer made, by result (ok by default). */
  const writes = (w: StatusWriter, concern: string, result = 'ok') =>
    CloudMetrics.sum(metricsOf.get(w)!.statusPatches, { concern, result });
  const getJson = async (kind: string, name: string) =>
    JSON.parse(await cluster.run(['get', kind, name, '-o', 'json']));
  const twinsOf = (object: { status?: { twins?: { propertyName: string }[] } }) =>
    Object.fromEntries((object.status?.twins ?? []).map((t) => [t.propertyName, t]));

  beforeAll(async () => {
    cluster = await startCluster(); // a cold build of kube-apiserver takes minutes
    await cluster.installCrds();
    const devices = ['s1', 's2', 's3', 's4', 'legacy'].map(device);
    await cluster.run(
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'List', items: devices }),
    );
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    controller = new DeviceController({ kubeConfig, log: silentLogger, sink: { upsert() {}, remove() {} } });
    await controller.start();
  }, 600_000);

  afterAll(async () => {
    await Promise.all(writers.map((w) => w.stop()));
    await controller?.stop();
    await cluster?.stop();
  });

  it('creates the DeviceStatus, owned by its Device, with the twins in status (one apply per concern)', async () => {
    const w = writer();
    await w.reportTwins('default/s1', {
      temperature: twin('20.5'),
      setpoint: twin('21', '22', 1_700_000_000_123),
    });
    const status = await getJson('devicestatus', 's1');
    const owner = await getJson('device', 's1');
    expect(status.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'devices.kubeedge.io/v1beta1',
        kind: 'Device',
        name: 's1',
        uid: owner.metadata.uid,
        controller: true,
        blockOwnerDeletion: false,
      },
    ]);
    expect(status.status.twins).toEqual([
      {
        propertyName: 'temperature',
        reported: { value: '20.5', metadata: { timestamp: '1700000000000', type: 'float' } },
      },
      {
        propertyName: 'setpoint',
        reported: { value: '21', metadata: { timestamp: '1700000000123', type: 'float' } },
        observedDesired: { value: '22', metadata: { timestamp: '1700000000123', type: 'float' } },
      },
    ]);
    // The twins, the state concern (conditions, lastSeen) and its copy in Device.status: one write each.
    expect([await writes(w, 'twins'), await writes(w, 'state'), await writes(w, 'device')]).toEqual([
      1, 1, 1,
    ]);
    expect(w.patches).toBe(3);
  });

  it('coalesces 50 rapid reports into one or two writes carrying every newest value', async () => {
    const w = writer({ intervalMs: 500 });
    const reports: Promise<void>[] = [];
    for (let i = 0; i < 50; i++)
      reports.push(w.reportTwins('default/s2', { [`p${i % 5}`]: twin(String(i)) }));
    reports.push(w.reportState('default/s2', 'online', '2026-01-01T00:00:00Z'));
    await Promise.all(reports);
    expect(await writes(w, 'twins')).toBeGreaterThanOrEqual(1);
    expect(await writes(w, 'twins')).toBeLessThanOrEqual(2);
    expect(await CloudMetrics.sum(metricsOf.get(w)!.reportsCoalesced)).toBeGreaterThanOrEqual(49);
    const status = await getJson('devicestatus', 's2');
    const values = Object.fromEntries(
      status.status.twins.map((t: { propertyName: string; reported: { value: string } }) => [
        t.propertyName,
        t.reported.value,
      ]),
    );
    expect(values).toEqual({ p0: '45', p1: '46', p2: '47', p3: '48', p4: '49' });
    expect(status.status).toMatchObject({ state: 'online', lastOnlineTime: '2026-01-01T00:00:00Z' });
  });

  it('removes the entry of a deleted twin (null or type deleted) and keeps the others', async () => {
    const w = writer();
    await w.reportTwins('default/s1', { humidity: twin('40') });
    expect(Object.keys(twinsOf(await getJson('devicestatus', 's1'))).sort()).toEqual([
      'humidity',
      'setpoint',
      'temperature',
    ]);
    await w.reportTwins('default/s1', { temperature: null, setpoint: { metadata: { type: 'deleted' } } });
    const twins = twinsOf(await getJson('devicestatus', 's1'));
    expect(Object.keys(twins)).toEqual(['humidity']);
  });

  it('replaces, not merges, a twin deleted and reported again before the patch', async () => {
    const w = writer();
    await w.reportTwins('default/s1', { mode: twin('1', '2') });
    await Promise.all([
      w.reportTwins('default/s1', { mode: null }),
      w.reportTwins('default/s1', { mode: twin('3') }),
    ]);
    const mode = twinsOf(await getJson('devicestatus', 's1')).mode;
    expect(mode).toEqual({ propertyName: 'mode', reported: { value: '3', metadata: expect.any(Object) } });
    await w.reportTwins('default/s1', { mode: null });
  });

  it('writes state and lastOnlineTime', async () => {
    const w = writer();
    await w.reportState('default/s1', 'offline', '2026-11-23T10:00:00Z');
    const status = await getJson('devicestatus', 's1');
    expect(status.status).toMatchObject({ state: 'offline', lastOnlineTime: '2026-11-23T10:00:00Z' });
    expect(Object.keys(twinsOf(status))).toEqual(['humidity']);
  });

  it("writes Device.status with target 'Device'", async () => {
    const w = writer({ target: 'Device' });
    await Promise.all([
      w.reportTwins('default/legacy', { temperature: twin('19', '20') }),
      w.reportState('default/legacy', 'online', '2026-11-23T11:00:00Z'),
    ]);
    const legacy = await getJson('device', 'legacy');
    expect(legacy.status).toMatchObject({ state: 'online', lastOnlineTime: '2026-11-23T11:00:00Z' });
    expect(twinsOf(legacy).temperature).toMatchObject({
      reported: { value: '19' },
      observedDesired: { value: '20' },
    });
    expect(legacy.spec.nodeName).toBe('node-a');
    expect(await cluster.run(['get', 'devicestatus', 'legacy', '--ignore-not-found'])).toBe('');
  });

  it('skips bad input without throwing, and refuses an unknown device', async () => {
    const w = writer();
    await expect(w.reportTwins('default/s4', { empty: {} } as MsgTwinMap)).resolves.toBeUndefined();
    await expect(w.reportTwins('default/s4', null as unknown as MsgTwinMap)).resolves.toBeUndefined();
    await expect(w.reportState('default/s4', '')).resolves.toBeUndefined();
    await expect(w.reportTwins('not-a-key', { a: twin('1') })).rejects.toThrow(/not a device key/);
    await expect(w.reportTwins('default/no-such-device', { a: twin('1') })).rejects.toThrow(/no Device/);
    expect(w.patches).toBe(0);
  });

  it('flushes what is pending on stop, then refuses more', async () => {
    const w = writer({ intervalMs: 600_000 });
    const report = w.reportTwins('default/s4', { level: twin('7') });
    await w.stop();
    await report;
    expect(twinsOf(await getJson('devicestatus', 's4')).level).toMatchObject({ reported: { value: '7' } });
    await expect(w.reportTwins('default/s4', { level: twin('8') })).rejects.toThrow(/stopped/);
  });

  describe('StatusWriter: a bound on writes in flight, TLS sessions resumed', () => {
    let proxy: TcpProxy;
    const names = Array.from({ length: 8 }, (_, i) => `bound-${i}`);

    beforeAll(async () => {
      await cluster.run(
        ['apply', '-f', '-'],
        JSON.stringify({ apiVersion: 'v1', kind: 'List', items: names.map(device) }),
      );
      proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(cluster.server).port) });
      // The DeviceController has them before the writer asks (a DeviceStatus is owned by its Device).
      await waitFor('the devices in the controller', () =>
        names.every((name) => controller.device(`default/${name}`)),
      );
    });

    afterAll(() => proxy?.close());

    /** A kubeconfig through the proxy, with the shared agent cloudcore uses. */
    const proxied = () => {
      const config = new SharedAgentKubeConfig();
      config.loadFromString(
        readFileSync(cluster.kubeconfig, 'utf8').replace(cluster.server, `https://${proxy.address}`),
      );
      return config;
    };

    it('keeps at most maxInFlight requests at the API server; the devices waiting still write their newest values', async () => {
      const kubeConfig = proxied();
      const w = writer({ kubeConfig, intervalMs: 0, maxInFlight: 2 });
      // Each device: a read, the DeviceStatus created, and three applies — 8 devices at once.
      await Promise.all(names.map((name) => w.reportTwins(`default/${name}`, { t: twin('1') })));
      const first = proxy.mostInFlight();
      const reports = names.flatMap((name) => [
        w.reportTwins(`default/${name}`, { t: twin('2') }),
        w.reportTwins(`default/${name}`, { t: twin('3') }),
      ]);
      await Promise.all(reports);
      await w.stop();
      expect(first).toBe(2);
      expect(proxy.mostInFlight()).toBe(2);
      for (const name of names)
        expect(twinsOf(await getJson('devicestatus', name)).t).toMatchObject({
          reported: { value: '3' },
        });
      // One agent for every request: after the first full handshake, the connections resume its TLS session.
      expect(kubeConfig.tls.connections).toBeGreaterThan(30);
      expect(kubeConfig.tls.resumed).toBeGreaterThanOrEqual(kubeConfig.tls.connections - 2);
    });
  });

  describe('when the API server cannot be reached', () => {
    let proxy: TcpProxy;
    beforeAll(async () => {
      proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(cluster.server).port) });
    });
    afterAll(() => proxy?.close());

    it('rejects the patch, logs it with the key, and carries its values in the next patch', async () => {
      const proxied = new KubeConfig();
      proxied.loadFromString(
        readFileSync(cluster.kubeconfig, 'utf8').replace(cluster.server, `https://${proxy.address}`),
      );
      const { log, warnings } = recordingLogger();
      const w = writer({ kubeConfig: proxied, log, intervalMs: 50 });
      await w.reportTwins('default/s3', { a: twin('1') });
      proxy.cut();
      await expect(w.reportTwins('default/s3', { b: twin('2') })).rejects.toThrow();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.obj).toMatchObject({ key: 'default/s3' });
      proxy.restore();
      await w.reportTwins('default/s3', { c: twin('3') });
      const twins = twinsOf(await getJson('devicestatus', 's3'));
      expect(Object.keys(twins)).toEqual(['a', 'b', 'c']);
      expect(await writes(w, 'twins')).toBe(2);
    });
  });

  describe("on KubeEdge's CRDs (no status subresource, no DeviceStatus), on the same API server", () => {
    let stale: StatusWriter;
    const staleLog = recordingLogger();

    beforeAll(async () => {
      // A writer that found edgetwin's CRDs, then sees them replaced by KubeEdge's while it runs.
      stale = writer({ log: staleLog.log });
      await stale.reportTwins('default/s1', { before: twin('1') });
      expect(stale.statusMode).toEqual({
        kind: 'DeviceStatus',
        plural: 'devicestatuses',
        subresource: true,
        deviceCopy: true,
      });
      await controller.stop();
      await cluster.deleteCrds();
      await cluster.installCrds('kubeedge');
      const devices = ['s1', 'k1', 'k2'].map(device);
      await cluster.run(
        ['apply', '-f', '-'],
        JSON.stringify({ apiVersion: 'v1', kind: 'List', items: devices }),
      );
      controller = new DeviceController({
        kubeConfig,
        log: silentLogger,
        sink: { upsert() {}, remove() {} },
      });
      await controller.start();
    }, 120_000);

    it('discovers it, and writes twins and state with a merge patch of the Device itself', async () => {
      const { log, lines } = recordingLogger();
      const w = writer({ log });
      expect(await w.start()).toEqual({
        kind: 'Device',
        plural: 'devices',
        subresource: false,
        deviceCopy: false,
      });
      expect(lines).toContainEqual({
        level: 'info',
        msg: 'status write mode',
        obj: expect.objectContaining({ kind: 'Device', resource: 'devices', fallback: expect.any(String) }),
      });
      const before = await getJson('device', 'k1');
      await Promise.all([
        w.reportTwins('default/k1', { temperature: twin('19', '20') }),
        w.reportState('default/k1', 'online', '2026-11-23T12:00:00Z'),
      ]);
      const k1 = await getJson('device', 'k1');
      expect(k1.status).toMatchObject({ state: 'online', lastOnlineTime: '2026-11-23T12:00:00Z' });
      expect(twinsOf(k1).temperature).toMatchObject({
        reported: { value: '19' },
        observedDesired: { value: '20' },
      });
      expect(k1.spec).toEqual(before.spec);
      expect((await cluster.kubectl(['get', 'devicestatus', 'k1'])).code).not.toBe(0); // not served here
    });

    it('switches a writer whose CRDs were replaced on the first 404, and loses nothing', async () => {
      await stale.reportTwins('default/s1', { after: twin('2') });
      expect(stale.statusMode).toEqual({
        kind: 'Device',
        plural: 'devices',
        subresource: false,
        deviceCopy: false,
      });
      expect(Object.keys(twinsOf(await getJson('device', 's1')))).toEqual(['after']);
      expect(staleLog.warnings).toContainEqual(expect.objectContaining({ msg: 'status write mode changed' }));
    });

    it('patches a DeviceStatus object itself where its CRD has no status subresource', async () => {
      const crd = parse(
        readFileSync(
          new URL('../device-models/crds/devicestatuses.devices.kubeedge.io.yaml', import.meta.url),
          'utf8',
        ),
      );
      for (const version of crd.spec.versions) delete version.subresources;
      await cluster.run(['apply', '-f', '-'], JSON.stringify(crd));
      await cluster.run(['wait', '--for', 'condition=established', '--timeout', '60s', 'crd', '--all']);
      const w = writer();
      expect(await w.start()).toEqual({
        kind: 'DeviceStatus',
        plural: 'devicestatuses',
        subresource: false,
        deviceCopy: false,
      });
      await w.reportTwins('default/k2', { level: twin('3') });
      const status = await getJson('devicestatus', 'k2');
      expect(status.metadata.ownerReferences).toMatchObject([{ kind: 'Device', name: 'k2' }]);
      expect(twinsOf(status).level).toMatchObject({ reported: { value: '3' } });
    });

    it('rejects, naming the resource and without keeping the values, when no device resource is served', async () => {
      const { log, lines } = recordingLogger();
      const w = writer({ log });
      await w.reportTwins('default/k1', { a: twin('1') });
      await controller.stop();
      await cluster.deleteCrds();
      const failed = w.reportTwins('default/k1', { b: twin('2') });
      await expect(failed).rejects.toThrow(/devices\.devices\.kubeedge\.io\/v1beta1 is not served/);
      await expect(failed).rejects.toMatchObject({ code: 'STATUS_RESOURCE_MISSING', status: 404 });
      expect(lines.filter((l) => l.level === 'error')).toEqual([
        expect.objectContaining({ msg: 'status not written: the resource is not served' }),
      ]);
      expect(w.patches).toBe(1);
    });
  });
});
