import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../sdk/logger.js';
import { type Cluster, startCluster } from '../test/k8s/cluster.js';
import { waitFor } from '../test/support/wait-for.js';
import { DeviceController, type NodeDevice } from './device-controller.js';

/**
 * The informers' failure paths on a real kube-apiserver made to hit them: watches that the server ends every
 * 2–4 s (`--min-request-timeout=2`), and, with the watch cache off so that watches read etcd, a compacted etcd
 * that answers a watch from an old resourceVersion with 410 Gone.
 */

const thermostat = (desired: string) => ({
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: { name: 'thermostat-01', namespace: 'default' },
  spec: {
    deviceModelRef: { name: 'thermostat-model' },
    nodeName: 'node-a',
    protocol: { protocolName: 'modbus', configData: { communicateMode: 'TCP', ip: '127.0.0.1', port: 5020 } },
    properties: [
      {
        name: 'setpoint',
        desired: { value: desired },
        visitors: {
          protocolName: 'modbus',
          configData: { register: 'HoldingRegister', offset: 0, limit: 1 },
        },
      },
    ],
  },
});

describe('DeviceController informers when the API server ends watches and compacts', () => {
  let cluster: Cluster;
  let controller: DeviceController;
  const sent: NodeDevice[] = [];
  const apply = (object: object) => cluster.run(['apply', '-f', '-'], JSON.stringify(object));
  const desiredSent = () => sent.at(-1)?.device.spec?.properties?.[0]?.desired?.value;

  /** etcd's v3 JSON gateway: the current revision, then a compaction up to it. */
  async function compactEtcd(): Promise<number> {
    const range = await fetch(`${cluster.etcd}/v3/kv/range`, {
      method: 'POST',
      body: JSON.stringify({ key: Buffer.from('/').toString('base64') }),
    });
    const revision = Number(((await range.json()) as { header: { revision: string } }).header.revision);
    const compacted = await fetch(`${cluster.etcd}/v3/kv/compaction`, {
      method: 'POST',
      body: JSON.stringify({ revision: String(revision), physical: true }),
    });
    expect(compacted.status).toBe(200);
    return revision;
  }

  beforeAll(async () => {
    cluster = await startCluster({ apiserverArgs: ['--min-request-timeout=2', '--watch-cache=false'] });
    await cluster.installCrds();
    await apply({
      apiVersion: 'devices.kubeedge.io/v1beta1',
      kind: 'DeviceModel',
      metadata: { name: 'thermostat-model', namespace: 'default' },
      spec: {
        protocol: 'modbus',
        properties: [{ name: 'setpoint', type: 'FLOAT', accessMode: 'ReadWrite' }],
      },
    });
    await apply(thermostat('20'));
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    controller = new DeviceController({
      kubeConfig,
      log: silentLogger,
      sink: { upsert: (_node, entry) => sent.push(entry), remove: () => {} },
    });
    await controller.start();
  }, 600_000);

  afterAll(async () => {
    await controller?.stop();
    await cluster?.stop();
  });

  it('watches again each time the API server ends a watch, and misses nothing', async () => {
    await waitFor('the first device sent', () => desiredSent() === '20');
    const watches = controller.informers.devices.watches;
    await waitFor(
      'two more device watches',
      () => controller.informers.devices.watches >= watches + 2,
      30_000,
    );
    await apply(thermostat('21'));
    await waitFor('the change after the restarts', () => desiredSent() === '21');
  }, 60_000);

  it('relists after 410 Gone (its resourceVersion compacted away) and keeps delivering', async () => {
    const lists = controller.informers.devices.lists;
    // Writes elsewhere move etcd's revision past the devices watch's resourceVersion; then compact up to it.
    for (let i = 0; i < 3; i++) await cluster.run(['create', 'configmap', `filler-${i}`]);
    await compactEtcd();
    await waitFor('a relist of devices', () => controller.informers.devices.lists > lists);
    await apply(thermostat('22'));
    await waitFor('the change after the relist', () => desiredSent() === '22');
    expect(controller.device('default/thermostat-01')?.spec?.properties?.[0]?.desired?.value).toBe('22');
  }, 60_000);
});
