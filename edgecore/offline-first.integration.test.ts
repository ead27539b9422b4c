import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { CloudHub } from '../cloudcore/cloudhub.js';
import type { NodeObject } from '../cloudcore/node-session.js';
import { CloudPki } from '../cloudcore/pki.js';
import {
  loadSampleDevice,
  type ModbusConfig,
  type ModbusVisitor,
  type MsgTwinMap,
  samplesDir,
} from '../device-models/internal.js';
import { createModbusSimulator, type ModbusSimulator } from '../mappers/modbus/simulator.js';
import { silentLogger } from '../sdk/internal.js';
import { waitFor } from '../test/support/wait-for.js';
import { type EdgeConfig, loadEdgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';
import { joinCloud } from './join.js';

/**
 * Offline first: a gateway runs its device directory with no cloud, a desired value is set over HTTP; then it
 * joins a real CloudHub (TLS, join API, WebSocket; the Kubernetes side is an in-memory map, as in
 * cloudcore/cloudhub.integration.test.ts) and restarts: its twins are intact, and what it reported while
 * standalone reaches the cloud from the outbox.
 */
const NODE = 'gw-1';
const KEY = 'default/thermostat-01';

describe('a standalone edge that joins later', () => {
  let dir: string;
  let simulator: ModbusSimulator;
  let simulatorPort: number;
  let sampleText: string;
  const running: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'offline-first-'));
    const device = await loadSampleDevice<ModbusConfig, ModbusVisitor>('thermostat-01');
    simulator = createModbusSimulator(device, { transport: { kind: 'tcp', port: 0 } });
    simulatorPort = (await simulator.start()).port!;
    sampleText = await readFile(join(samplesDir(), 'modbus-tcp-thermostat.yaml'), 'utf8');
  });
  afterAll(async () => {
    for (const r of running.reverse()) await r.stop();
    await simulator.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const startEdge = async (config: EdgeConfig) => {
    const edge = new EdgeCore({
      config,
      adjustDevice: (d) => ({ ...d, config: { ...d.config, port: simulatorPort } }),
      cloudLink: { resendMs: 300 },
    });
    await edge.start();
    running.push(edge);
    return edge;
  };

  it('keeps its twins through edgetwin join and syncs them to the cloud', async () => {
    const devices = join(dir, 'devices');
    await mkdir(devices);
    await writeFile(
      join(devices, 'thermostat.yaml'),
      sampleText.replace('nodeName: edge-node-1', `nodeName: ${NODE}`),
    );
    const configFile = join(dir, 'edge.yaml');
    await writeFile(
      configFile,
      `# standalone gateway\nnodeName: ${NODE}\ndataDir: ${join(dir, 'data')}\ndevices:\n  dirs: [${devices}]\n` +
        'eventBus:\n  internal:\n    port: 0\nhttp:\n  port: 0\n',
    );

    // 1. Standalone: a desired value over HTTP reaches the register and is reported.
    const standalone = await startEdge(await loadEdgeConfig(configFile));
    await waitFor('the device', () => standalone.twinModule?.twins(KEY));
    const put = await fetch(
      `${standalone.httpUrl}/api/v1/devices/default/thermostat-01/twins/setpoint/desired`,
      {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value: '23' }),
      },
    );
    expect(put.status).toBe(200);
    await waitFor('the register written with 23', () => simulator.written('setpoint') === 23);
    await waitFor('23 reported', () => standalone.twinModule?.twins(KEY)?.setpoint?.actual?.value === '23');
    await standalone.stop();

    // 2. A cloud that has the same device for this node (applied to Kubernetes with no desired values of its own).
    const pki = await CloudPki.open(join(dir, 'pki'));
    const reported = new Map<string, MsgTwinMap>();
    const [model, device] = parseAllDocuments(sampleText).map((d) => d.toJS()) as [
      Record<string, unknown>,
      { spec: { nodeName: string; properties: { desired?: unknown }[] } },
    ];
    device.spec.nodeName = NODE;
    for (const property of device.spec.properties) delete property.desired;
    const object: NodeObject = { key: KEY, resourceVersion: '7', content: { device, model } };
    const hub = new CloudHub({
      pki,
      log: silentLogger,
      host: '127.0.0.1',
      port: 0,
      keepaliveMs: 500,
      resendMs: 300,
      handlers: {
        devicesOf: (node) => (node === NODE ? [object] : []),
        nodeOf: (key) => (key === KEY ? NODE : undefined),
        twins: async (key, twins) => {
          reported.set(key, { ...reported.get(key), ...twins });
        },
        state: async () => {},
      },
    });
    await hub.start();
    running.push(hub);

    // 3. edgetwin join with neither --node-name nor --data: the config's are kept.
    const joined = await joinCloud({ cloud: hub.url, token: await pki.issueToken(600), configFile });
    expect(joined).toMatchObject({ nodeName: NODE, dataDir: join(dir, 'data') });
    const config = await loadEdgeConfig(configFile);
    expect(config).toMatchObject({
      nodeName: NODE,
      dataDir: join(dir, 'data'),
      devices: { dirs: [devices] },
      cloud: { enabled: true, server: hub.url },
    });
    expect(await readFile(configFile, 'utf8')).toContain('# standalone gateway');

    // 4. Restarted joined, with no mapper running: whatever reaches the cloud comes from the outbox.
    const edge = await startEdge({
      ...config,
      mappers: { ...config.mappers, inProcess: false },
      cloud: { ...config.cloud, keepaliveSeconds: 0.5, reconnectMaxSeconds: 0.5 },
    });
    const twins = edge.twinModule?.twins(KEY);
    expect(twins?.setpoint?.expected?.value).toBe('23');
    expect(twins?.setpoint?.actual?.value).toBe('23');
    const synced = await waitFor('the setpoint in the cloud', () => {
      const setpoint = reported.get(KEY)?.setpoint;
      return setpoint?.actual?.value === '23' && setpoint;
    });
    expect(synced.expected?.value).toBe('23');
    expect(edge.twinModule?.twins(KEY)?.setpoint?.expected?.value).toBe('23');
  });
});
