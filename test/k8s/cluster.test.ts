import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster } from './cluster.js';

const root = new URL('../../', import.meta.url).pathname;
const crdDir = join(root, 'device-models/crds');
const thermostat = join(root, 'device-models/samples/modbus-tcp-thermostat.yaml');

describe('a real kube-apiserver (1.20) with the device CRDs', () => {
  let cluster: Cluster;
  // A cold build of kube-apiserver takes minutes; later runs use the cached binaries.
  beforeAll(async () => {
    cluster = await startCluster();
  }, 600_000);
  afterAll(() => cluster?.stop());

  it('serves the admin its own identity over TLS', async () => {
    expect(cluster.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(cluster.token).not.toBe('');
    expect((await cluster.run(['auth', 'can-i', '*', '*'])).trim()).toBe('yes');
  });

  it('accepts every CRD in device-models/crds and establishes it', async () => {
    await cluster.installCrds();
    const names = readdirSync(crdDir).map((file) => file.replace(/\.yaml$/, ''));
    expect(names.length).toBeGreaterThan(0);
    const established = await cluster.run(['get', 'crd', '-o', 'name']);
    for (const name of names)
      expect(established).toContain(`customresourcedefinition.apiextensions.k8s.io/${name}`);
  }, 90_000);

  it('stores, returns and merge-patches the Modbus thermostat sample', async () => {
    await cluster.run(['apply', '-f', thermostat]);

    const device = JSON.parse(await cluster.run(['get', 'device', 'thermostat-01', '-o', 'json']));
    expect(device).toMatchObject({
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'Device',
      metadata: { name: 'thermostat-01', namespace: 'default', labels: { site: 'lab' } },
      spec: { deviceModelRef: { name: 'thermostat-model' }, nodeName: 'edge-node-1' },
    });
    const model = JSON.parse(await cluster.run(['get', 'devicemodel', 'thermostat-model', '-o', 'json']));
    expect(model.spec.properties.map((p: { name: string }) => p.name)).toEqual([
      'temperature',
      'setpoint',
      'heater',
    ]);

    const patch = { metadata: { labels: { site: 'lab-2' } }, spec: { nodeName: 'edge-node-2' } };
    await cluster.run(['patch', 'device', 'thermostat-01', '--type', 'merge', '-p', JSON.stringify(patch)]);
    const patched = JSON.parse(await cluster.run(['get', 'device', 'thermostat-01', '-o', 'json']));
    expect(patched.metadata.labels).toEqual({ site: 'lab-2' });
    expect(patched.spec.nodeName).toBe('edge-node-2');
    expect(patched.spec.properties).toEqual(device.spec.properties);
    expect(Number(patched.metadata.generation)).toBeGreaterThan(Number(device.metadata.generation));
  }, 60_000);

  it('takes a manifest on stdin', async () => {
    const manifest = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'stdin' } });
    await cluster.run(['apply', '-f', '-'], manifest);
    expect((await cluster.run(['get', 'configmap', 'stdin', '-o', 'name'])).trim()).toBe('configmap/stdin');
  });
});
