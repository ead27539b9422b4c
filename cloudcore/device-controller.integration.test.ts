import { readFileSync } from 'node:fs';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Logger, silentLogger } from '../sdk/logger.js';
import { type Cluster, startCluster } from '../test/k8s/cluster.js';
import { startTcpProxy } from '../test/support/tcp-proxy.js';
import { waitFor } from '../test/support/wait-for.js';
import { DeviceController, type DeviceSink, type NodeDevice } from './device-controller.js';

/**
 * The DeviceController against a real kube-apiserver (1.20) with the device CRDs. The sink (the CloudHub's
 * side) is the seam: it records what would be sent to which node.
 */

type Call =
  | { op: 'upsert'; node: string; key: string; resourceVersion: string; entry: NodeDevice }
  | { op: 'remove'; node: string; key: string; resourceVersion: string };

function recordingSink() {
  const calls: Call[] = [];
  const sink: DeviceSink = {
    upsert: (node, entry) =>
      calls.push({ op: 'upsert', node, key: entry.key, resourceVersion: entry.resourceVersion, entry }),
    remove: (node, key, resourceVersion) => calls.push({ op: 'remove', node, key, resourceVersion }),
  };
  return { calls, sink };
}

function recordingLogger() {
  const warnings: { obj: object | string; msg?: string }[] = [];
  const log: Logger = { ...silentLogger, warn: (obj, msg) => warnings.push({ obj, msg }), child: () => log };
  return { log, warnings };
}

const model = (name: string, unit = '°C') => ({
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'DeviceModel',
  metadata: { name, namespace: 'default' },
  spec: {
    protocol: 'modbus',
    properties: [{ name: 'setpoint', type: 'FLOAT', accessMode: 'ReadWrite', unit }],
  },
});

const device = (name: string, modelName: string, nodeName?: string) => ({
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: { name, namespace: 'default' },
  spec: {
    deviceModelRef: { name: modelName },
    ...(nodeName ? { nodeName } : {}),
    protocol: { protocolName: 'modbus', configData: { communicateMode: 'TCP', ip: '127.0.0.1', port: 5020 } },
    properties: [
      {
        name: 'setpoint',
        desired: { value: '21.5' },
        visitors: {
          protocolName: 'modbus',
          configData: { register: 'HoldingRegister', offset: 0, limit: 1 },
        },
      },
    ],
  },
});

describe('DeviceController against a real kube-apiserver', () => {
  let cluster: Cluster;
  let controller: DeviceController;
  const { calls, sink } = recordingSink();
  const apply = async (object: object) => await cluster.run(['apply', '-f', '-'], JSON.stringify(object));
  const rvOf = async (kind: string, name: string) =>
    await cluster.run(['get', kind, name, '-o', 'jsonpath={.metadata.resourceVersion}']);
  const mergePatch = (name: string, patch: object) =>
    cluster.run(['patch', 'device', name, '--type', 'merge', '-p', JSON.stringify(patch)]);
  const callsFor = (key: string) => calls.filter((c) => c.key === key);
  const upserted = (key: string, node: string, resourceVersion?: string) =>
    calls.find(
      (c): c is Extract<Call, { op: 'upsert' }> =>
        c.op === 'upsert' &&
        c.key === key &&
        c.node === node &&
        (!resourceVersion || c.resourceVersion === resourceVersion),
    );

  beforeAll(async () => {
    cluster = await startCluster(); // a cold build of kube-apiserver takes minutes
    await cluster.installCrds();
    await apply(model('preexisting-model'));
    await apply(device('preexisting', 'preexisting-model', 'node-a'));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    controller = new DeviceController({ kubeConfig, sink, log: silentLogger });
    await controller.start();
  }, 600_000);

  afterAll(async () => {
    await controller?.stop();
    await cluster?.stop();
  });

  it('has listed what existed before start, and sent it', () => {
    expect(controller.device('default/preexisting')?.spec?.nodeName).toBe('node-a');
    expect(upserted('default/preexisting', 'node-a')?.entry.model.metadata.name).toBe('preexisting-model');
  });

  it('sends an added device, with its model, to its node', async () => {
    await apply(model('m1'));
    await apply(device('d1', 'm1', 'node-a'));
    const rv = await rvOf('device', 'd1');
    const call = await waitFor('upsert of d1', () => upserted('default/d1', 'node-a', rv));
    expect(call.entry.device.metadata.name).toBe('d1');
    expect(call.entry.model.metadata.name).toBe('m1');
  });

  it('holds a device whose model is not there yet, and sends it when the model arrives', async () => {
    await apply(device('d2', 'm2', 'node-a'));
    await waitFor('d2 in the cache', () => controller.device('default/d2'));
    expect(callsFor('default/d2')).toEqual([]);
    expect(controller.devicesOf('node-a').map((e) => e.key)).not.toContain('default/d2');
    await apply(model('m2'));
    const call = await waitFor('upsert of d2', () => upserted('default/d2', 'node-a'));
    expect(call.entry.model.metadata.name).toBe('m2');
  });

  it('sends the new resourceVersion and desired value when a device is patched', async () => {
    await cluster.run([
      'patch',
      'device',
      'd1',
      '--type',
      'json',
      '-p',
      '[{"op":"replace","path":"/spec/properties/0/desired/value","value":"23.5"}]',
    ]);
    const rv = await rvOf('device', 'd1');
    const call = await waitFor('upsert of patched d1', () => upserted('default/d1', 'node-a', rv));
    expect(call.entry.device.spec?.properties?.[0]?.desired?.value).toBe('23.5');
  });

  it('does not resend a device whose new resourceVersion only wrote its status', async () => {
    const before = callsFor('default/d1').length;
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    await kubeConfig.makeApiClient(CustomObjectsApi).patchNamespacedCustomObjectStatus(
      {
        ...{ group: 'devices.kubeedge.io', version: 'v1beta1', namespace: 'default', plural: 'devices' },
        name: 'd1',
        body: { status: { state: 'online' } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const rv = await rvOf('device', 'd1');
    await waitFor(
      'the status write in the cache',
      () =>
        (controller.device('default/d1')?.metadata as { resourceVersion?: string })?.resourceVersion === rv,
    );
    expect(callsFor('default/d1').slice(before)).toEqual([]);
  });

  it('resends every device of a model when the model changes', async () => {
    const before = callsFor('default/d1').length;
    await cluster.run([
      'patch',
      'devicemodel',
      'm1',
      '--type',
      'merge',
      '-p',
      '{"spec":{"protocol":"modbus-v2"}}',
    ]);
    const call = await waitFor('resend of d1', () =>
      callsFor('default/d1')
        .slice(before)
        .find((c) => c.op === 'upsert'),
    );
    expect(call.op === 'upsert' && call.entry.model.spec?.protocol).toBe('modbus-v2');
  });

  it('moves a device: removed from the old node, sent to the new one', async () => {
    const before = callsFor('default/d1').length;
    await mergePatch('d1', { spec: { nodeName: 'node-b' } });
    const rv = await rvOf('device', 'd1');
    await waitFor('upsert on node-b', () => upserted('default/d1', 'node-b', rv));
    expect(callsFor('default/d1').slice(before)).toMatchObject([
      { op: 'remove', node: 'node-a', resourceVersion: rv },
      { op: 'upsert', node: 'node-b', resourceVersion: rv },
    ]);
  });

  it('tells each node its current devices', () => {
    expect(
      controller
        .devicesOf('node-a')
        .map((e) => e.key)
        .sort(),
    ).toEqual(['default/d2', 'default/preexisting']);
    expect(controller.devicesOf('node-b').map((e) => e.key)).toEqual(['default/d1']);
    expect(controller.devicesOf('node-c')).toEqual([]);
  });

  it('removes a deleted device from its node', async () => {
    await cluster.run(['delete', 'device', 'd2']);
    const call = await waitFor('remove of d2', () =>
      calls.find((c) => c.op === 'remove' && c.key === 'default/d2' && c.node === 'node-a'),
    );
    expect(call.resourceVersion).not.toBe('');
    expect(controller.device('default/d2')).toBeUndefined();
    expect(controller.devicesOf('node-a').map((e) => e.key)).toEqual(['default/preexisting']);
  });

  it('sends nothing for a device without a node', async () => {
    await apply(device('nowhere', 'm1'));
    await waitFor('nowhere in the cache', () => controller.device('default/nowhere'));
    expect(callsFor('default/nowhere')).toEqual([]);
  });

  it('stops (twice) and starts again, catching up on what changed meanwhile', async () => {
    await controller.stop();
    await controller.stop();
    await waitFor('no socket left', () => !process.getActiveResourcesInfo().includes('TCPSocketWrap'), 2_000);
    const before = calls.length;
    await mergePatch('d1', { spec: { nodeName: 'node-c' } });
    await cluster.run(['delete', 'device', 'preexisting']);
    const rv = await rvOf('device', 'd1');
    expect(calls.length).toBe(before); // nothing is watched while stopped
    await controller.start();
    await waitFor('d1 on node-c', () => upserted('default/d1', 'node-c', rv));
    await waitFor('preexisting removed', () =>
      calls.slice(before).find((c) => c.op === 'remove' && c.key === 'default/preexisting'),
    );
    expect(calls.slice(before).filter((c) => c.key === 'default/d1')).toMatchObject([
      { op: 'remove', node: 'node-b' },
      { op: 'upsert', node: 'node-c' },
    ]);
    expect(controller.devicesOf('node-a')).toEqual([]);
  });

  it('catches up after the API server could not be reached for a while', async () => {
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(cluster.server).port) });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(
      readFileSync(cluster.kubeconfig, 'utf8').replace(cluster.server, `https://${proxy.address}`),
    );
    const { log, warnings } = recordingLogger();
    const { calls: seen, sink: proxiedSink } = recordingSink();
    const proxied = new DeviceController({ kubeConfig, sink: proxiedSink, log });
    try {
      await proxied.start();
      expect(proxied.devicesOf('node-c').map((e) => e.key)).toEqual(['default/d1']);
      proxy.cut();
      await waitFor('a failed watch to be logged', () => warnings.length > 0);
      await mergePatch('d1', { spec: { nodeName: 'node-d' } });
      const rv = await rvOf('device', 'd1');
      proxy.restore();
      await waitFor('d1 on node-d', () =>
        seen.find(
          (c) =>
            c.op === 'upsert' && c.key === 'default/d1' && c.node === 'node-d' && c.resourceVersion === rv,
        ),
      );
      expect(seen.filter((c) => c.op === 'remove')).toMatchObject([{ key: 'default/d1', node: 'node-c' }]);
    } finally {
      await proxied.stop();
      await proxy.close();
    }
  });
});
