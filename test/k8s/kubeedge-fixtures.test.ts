import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { type Cluster, startCluster } from './cluster.js';

/**
 * edgetwin's CRDs (device-models/crds) on a real kube-apiserver take the manifests written in KubeEdge's shapes
 * (device-models/validate/testdata/kubeedge, which `edgetwin validate` accepts too): kubectl's own validation
 * against the published schema, then the API server's, then what the server keeps.
 */

const root = new URL('../../', import.meta.url).pathname;
const fixtures = join(root, 'device-models/validate/testdata/kubeedge');
const files = readdirSync(fixtures).filter((f) => f.endsWith('.yaml'));

/** The documents of a fixture, as plain objects. */
const documents = (file: string) =>
  parseAllDocuments(readFileSync(join(fixtures, file), 'utf8')).map(
    (d) => d.toJS() as Record<string, unknown>,
  );

describe("KubeEdge-shaped manifests on a real kube-apiserver (1.20) with edgetwin's CRDs", () => {
  let cluster: Cluster;
  // A cold build of kube-apiserver takes minutes; later runs use the cached binaries.
  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.installCrds();
  }, 600_000);
  afterAll(() => cluster?.stop());

  const get = async (resource: string, name: string) =>
    JSON.parse(await cluster.run(['get', resource, name, '-o', 'json']));

  /** Writes `status` through the status subresource (kubectl apply leaves status alone), as cloudcore does. */
  async function putStatus(plural: string, name: string, status: unknown) {
    const current = await get(plural, name);
    const path = `/apis/devices.kubeedge.io/v1beta1/namespaces/default/${plural}/${name}/status`;
    await cluster.run(['replace', '--raw', path, '-f', '-'], JSON.stringify({ ...current, status }));
    return get(plural, name);
  }

  it('has a fixture for every case', () => {
    expect(files.sort()).toEqual([
      'anomaly-detection.yaml',
      'config-data-null.yaml',
      'custom-protocol.yaml',
      'device-status.yaml',
      'empty-protocol.yaml',
      'modbus-generic-visitor.yaml',
      'model-without-protocol.yaml',
      'protocol-config-data.yaml',
      'status-unknown-fields.yaml',
      'visitors-without-protocol-name.yaml',
    ]);
  });

  it.each(files)(
    'kubectl apply -f %s succeeds',
    async (file) => {
      const result = await cluster.kubectl(['apply', '-f', join(fixtures, file)]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      for (const doc of documents(file)) {
        const { kind, metadata } = doc as { kind: string; metadata: { name: string } };
        expect(result.stdout).toContain(`${kind.toLowerCase()}.devices.kubeedge.io/${metadata.name}`);
      }
    },
    30_000,
  );

  it('keeps custom protocols, configData, the model defaults and anomalyDetection as written', async () => {
    const dice = await get('device', 'dice-01');
    expect(dice.spec.protocol).toEqual({
      protocolName: 'virtualProtocol',
      configData: { deviceID: 7, serialPort: '/dev/ttyS3', baudRate: 19200, parity: 'none', protocolID: 2 },
    });
    expect(dice.spec.properties[1].visitors).toEqual({
      protocolName: 'virtualProtocol',
      configData: { dataType: 'float' },
    });
    const tank = await get('device', 'tank-level-01');
    expect(tank.spec.properties[0].visitors.configData).toMatchObject({
      dataType: 'float',
      max: 100,
      min: 0,
    });
    const meterModel = await get('devicemodel', 'meter-model');
    expect(meterModel.spec.protocolConfigData).toEqual({ ip: '192.0.2.50', port: 502, timeout: 800 });
    expect(meterModel.spec.properties[0].visitors.configData).toMatchObject({ register: 'InputRegister' });
    expect((await get('devicemodel', 'air-quality-model')).spec.protocol).toBeUndefined();
    expect((await get('device', 'ahu-01')).spec.protocol).toEqual({});
    const vibration = await get('device', 'vibration-01');
    expect(vibration.spec.properties[0].pushMethod.anomalyDetection).toEqual({
      enabled: true,
      endpoint: 'http://192.0.2.61:9000/detect',
      algorithm: 'zscore',
      window: 60,
    });
    expect(vibration.spec.properties[0].pushMethod.dbMethod.Kwdb.KWDBClientConfig.dbName).toBe('vibration');
  });

  it('drops configData: null, as it drops any null', async () => {
    const camera = await get('device', 'gate-camera-01');
    expect(camera.spec.protocol).toEqual({ protocolName: 'onvif' });
    expect(camera.spec.properties[0].visitors).toEqual({ protocolName: 'onvif' });
  });

  it('keeps unknown fields under Device.status', async () => {
    const [, door] = documents('status-unknown-fields.yaml');
    const stored = await putStatus('devices', 'door-01', door!.status);
    expect(stored.status).toEqual(door!.status);
  });

  it('takes a DeviceStatus with an empty spec, and keeps status.extensions as given', async () => {
    const [, , written] = documents('device-status.yaml');
    const stored = await putStatus('devicestatuses', 'fan-01', written!.status);
    expect(stored.spec).toEqual({});
    expect(stored.status).toEqual(written!.status);
    expect(stored.status.extensions).toEqual({ firmware: '2.4.1', counters: { restarts: 3, faults: [] } });
  });
});
