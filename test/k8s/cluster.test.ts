import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, type KubectlResult, startCluster } from './cluster.js';

const root = new URL('../../', import.meta.url).pathname;
const crdDir = join(root, 'device-models/crds');
const thermostat = join(root, 'device-models/samples/modbus-tcp-thermostat.yaml');

/** The result's stdout, or an error carrying kubectl's own message. */
function ok(result: KubectlResult): string {
  if (result.code !== 0) throw new Error(`kubectl exited ${result.code}: ${result.stderr || result.stdout}`);
  return result.stdout;
}

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
    expect(ok(await cluster.kubectl(['auth', 'can-i', '*', '*'])).trim()).toBe('yes');
  });

  it('accepts every CRD in device-models/crds and establishes it', async () => {
    const files = readdirSync(crdDir).filter((name) => name.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) ok(await cluster.kubectl(['apply', '-f', join(crdDir, file)]));
    const names = files.map((file) => `crd/${file.replace(/\.yaml$/, '')}`);
    ok(await cluster.kubectl(['wait', '--for', 'condition=established', '--timeout', '60s', ...names]));
  }, 90_000);

  it('stores, returns and merge-patches the Modbus thermostat sample', async () => {
    ok(await cluster.kubectl(['apply', '-f', thermostat]));

    const device = JSON.parse(ok(await cluster.kubectl(['get', 'device', 'thermostat-01', '-o', 'json'])));
    expect(device).toMatchObject({
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'Device',
      metadata: { name: 'thermostat-01', namespace: 'default', labels: { site: 'lab' } },
      spec: { deviceModelRef: { name: 'thermostat-model' }, nodeName: 'edge-node-1' },
    });
    const model = JSON.parse(
      ok(await cluster.kubectl(['get', 'devicemodel', 'thermostat-model', '-o', 'json'])),
    );
    expect(model.spec.properties.map((p: { name: string }) => p.name)).toEqual([
      'temperature',
      'setpoint',
      'heater',
    ]);

    const patch = { metadata: { labels: { site: 'lab-2' } }, spec: { nodeName: 'edge-node-2' } };
    ok(
      await cluster.kubectl([
        'patch',
        'device',
        'thermostat-01',
        '--type',
        'merge',
        '-p',
        JSON.stringify(patch),
      ]),
    );
    const patched = JSON.parse(ok(await cluster.kubectl(['get', 'device', 'thermostat-01', '-o', 'json'])));
    expect(patched.metadata.labels).toEqual({ site: 'lab-2' });
    expect(patched.spec.nodeName).toBe('edge-node-2');
    expect(patched.spec.properties).toEqual(device.spec.properties);
    expect(Number(patched.metadata.generation)).toBeGreaterThan(Number(device.metadata.generation));
  }, 60_000);

  it('takes a manifest on stdin', async () => {
    const manifest = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'stdin' } });
    ok(await cluster.kubectl(['apply', '-f', '-'], manifest));
    expect(ok(await cluster.kubectl(['get', 'configmap', 'stdin', '-o', 'name'])).trim()).toBe(
      'configmap/stdin',
    );
  });
});
