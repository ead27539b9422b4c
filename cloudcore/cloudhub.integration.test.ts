import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parseAllDocuments } from 'yaml';
import {
  type HubMessage,
  hubMessage,
  hubResources,
  loadSampleDevice,
  type ModbusConfig,
  type ModbusVisitor,
  type MsgTwinMap,
  samplesDir,
} from '../device-models/internal.js';
import { loadEdgeConfig } from '../edgecore/config.js';
import { EdgeCore } from '../edgecore/edgecore.js';
import { joinCloud } from '../edgecore/join.js';
import { createModbusSimulator, type ModbusSimulator } from '../mappers/modbus/simulator.js';
import { joinedEdgeConfig } from '../test/support/joined-edge.js';
import { startTcpProxy, type TcpProxy } from '../test/support/tcp-proxy.js';
import { waitFor } from '../test/support/wait-for.js';
import { TwinStore } from '../twin/store.js';
import { CloudHub } from './cloudhub.js';
import type { NodeObject } from './node-session.js';
import { CloudPki } from './pki.js';
import { StatusResourceMissing } from './status-mode.js';

/**
 * The edge link end to end without Kubernetes: a real CloudHub (TLS, client certificates, WebSocket), a node
 * joined with a real token, and a real edgecore running the Modbus thermostat against its simulator. The
 * cloud side's handlers (what the DeviceController and StatusWriter do with Kubernetes) are the seam: a map.
 */

const KEY = 'default/thermostat-01';

async function sampleObjects(resourceVersion: string, desiredSetpoint?: string): Promise<NodeObject> {
  const text = await readFile(join(samplesDir(), 'modbus-tcp-thermostat.yaml'), 'utf8');
  const [model, device] = parseAllDocuments(text).map((d) => d.toJS()) as [
    Record<string, unknown>,
    { spec: { nodeName: string; properties: { name: string; desired?: { value: string } }[] } },
  ];
  device.spec.nodeName = 'node-a';
  if (desiredSetpoint)
    device.spec.properties.find((p) => p.name === 'setpoint')!.desired = { value: desiredSetpoint };
  return { key: KEY, resourceVersion, content: { device, model } };
}

/** An in-memory cloud: the objects per node, and what the edge reported. */
function memoryCloud() {
  const objects = new Map<string, NodeObject & { node: string }>();
  const reported = new Map<string, MsgTwinMap>();
  const states = new Map<string, string>();
  /** What writing a report of these devices to Kubernetes fails with. */
  const failures = new Map<string, Error>();
  return {
    objects,
    reported,
    states,
    failures,
    handlers: {
      devicesOf: (node: string) => [...objects.values()].filter((o) => o.node === node),
      nodeOf: (key: string) => objects.get(key)?.node,
      async twins(key: string, twins: MsgTwinMap) {
        const failure = failures.get(key);
        if (failure) throw failure;
        reported.set(key, { ...reported.get(key), ...twins });
      },
      async state(key: string, state: { state: string }) {
        states.set(key, state.state);
      },
    },
  };
}

describe('CloudHub ↔ EdgeHub', () => {
  let dir: string;
  let pki: CloudPki;
  let hub: CloudHub;
  let proxy: TcpProxy;
  let simulator: ModbusSimulator;
  let simulatorPort: number;
  const cloud = memoryCloud();
  const edges: EdgeCore[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudhub-'));
    pki = await CloudPki.open(join(dir, 'pki'));
    hub = new CloudHub({
      pki,
      log: (await import('../sdk/internal.js')).silentLogger,
      handlers: cloud.handlers,
      host: '127.0.0.1',
      port: 0,
      keepaliveMs: 500,
      resendMs: 300,
    });
    await hub.start();
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(hub.url.split(':')[1]) });
    const device = await loadSampleDevice<ModbusConfig, ModbusVisitor>('thermostat-01');
    simulator = createModbusSimulator(device, { transport: { kind: 'tcp', port: 0 } });
    simulatorPort = (await simulator.start()).port!;
    const object = await sampleObjects('100');
    cloud.objects.set(KEY, { ...object, node: 'node-a' });
  });
  afterAll(async () => {
    for (const edge of edges) await edge.stop();
    await proxy.close();
    await hub.stop();
    await simulator.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Joins `node` with a token: its certificate and edge.yaml (kept: a node that joined does not join again). */
  async function joinNode(node: string) {
    const nodeDir = join(dir, node);
    const configFile = join(nodeDir, 'edge.yaml');
    const joined = await access(configFile).then(
      () => true,
      () => false,
    );
    if (!joined)
      await joinCloud({
        cloud: hub.url,
        token: await pki.issueToken(600),
        nodeName: node,
        dataDir: nodeDir,
        configFile,
      });
    return loadEdgeConfig(configFile);
  }

  /** Joins `node` and starts its edgecore, dialling the hub through the proxy. */
  async function startEdge(node: string, cloudAddress = proxy.address) {
    const joined = await joinNode(node);
    const edge = new EdgeCore({
      config: joinedEdgeConfig(joined, {
        server: cloudAddress,
        keepaliveSeconds: 0.5,
        reconnectMaxSeconds: 0.5,
      }),
      adjustDevice: (d) => ({ ...d, config: { ...d.config, port: simulatorPort } }),
      cloudLink: { resendMs: 300 },
      log: process.env.TEST_LOG
        ? (await import('../edgecore/cli/log.js')).createCliLogger('debug')
        : undefined,
    });
    await edge.start();
    edges.push(edge);
    return edge;
  }

  it('sends a joined node its device, which runs at the edge and reports back to the cloud', async () => {
    const edge = await startEdge('node-a');
    await waitFor('the device at the edge', () => edge.twinModule?.twins(KEY));
    const reported = await waitFor(
      'a reported temperature',
      () => cloud.reported.get(KEY)?.temperature?.actual?.value,
    );
    expect(Number(reported)).toBeGreaterThan(-40);
    await waitFor('the device online in the cloud', () => cloud.states.get(KEY) === 'online');
  });

  it('carries a desired value changed in the cloud to the register, and the reported value back', async () => {
    const object = await sampleObjects('101', '24');
    cloud.objects.set(KEY, { ...object, node: 'node-a' });
    hub.upsert('node-a', object);
    await waitFor('the setpoint register written with 24', () => simulator.written('setpoint') === 24);
    await waitFor(
      'setpoint 24 reported',
      () => cloud.reported.get(KEY)?.setpoint?.actual?.value === '24' && cloud.reported.get(KEY)?.setpoint,
    );
    expect(cloud.reported.get(KEY)?.setpoint?.expected?.value).toBe('24');
  });

  it('drops an object older than the one the edge holds', async () => {
    const old = await sampleObjects('99', '30');
    hub.upsert('node-a', old);
    await waitFor('connected', () => hub.nodes.includes('node-a'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(simulator.get('setpoint')).toBe(24);
    expect(edges[0]!.twinModule?.twins(KEY)?.setpoint?.expected?.value).toBe('24');
  });

  it('keeps a desired value set at the edge until the cloud changes that property', async () => {
    const edge = edges[0]!;
    await edge.twinModule!.setDesired(KEY, 'setpoint', '26');
    await waitFor('the register written with 26', () => simulator.written('setpoint') === 26);
    const relabelled = await sampleObjects('102', '24');
    (relabelled.content.device as { metadata: { labels: Record<string, string> } }).metadata.labels = {
      site: 'b',
    };
    hub.upsert('node-a', relabelled);
    await waitFor('the edge stored resourceVersion 102', () => hub.unacknowledged('node-a') === 0);
    expect(edge.twinModule?.twins(KEY)?.setpoint?.expected?.value).toBe('26');
    hub.upsert('node-a', await sampleObjects('103', '25'));
    await waitFor('the register written with 25', () => simulator.written('setpoint') === 25);
    expect(edge.twinModule?.twins(KEY)?.setpoint?.expected_version?.cloud).toBe(103);
  });

  it('applies versions that arrive back to back one at a time, in order: the newest wins', async () => {
    // 110 changes how the device runs (its mapper restarts: slow), 111 only a desired value (fast).
    const slower = await sampleObjects('110', '25');
    const device = slower.content.device as { spec: { properties: { collectCycle?: number }[] } };
    device.spec.properties[0]!.collectCycle = 500;
    // Each upsert is sent at once; the edge gets all three before it has answered the first.
    const [newest, older] = [await sampleObjects('111', '27'), await sampleObjects('109', '30')];
    hub.upsert('node-a', slower);
    hub.upsert('node-a', newest);
    hub.upsert('node-a', older);
    await waitFor('everything answered', () => hub.unacknowledged('node-a') === 0);
    await waitFor('the register written with 27', () => simulator.written('setpoint') === 27);
    expect(edges[0]!.twinModule?.twins(KEY)?.setpoint?.expected?.value).toBe('27');
    expect(edges[0]!.twinModule?.twins(KEY)?.setpoint?.expected_version?.cloud).toBe(111);
    const stored = TwinStore.open(join(dir, 'node-a', 'edgetwin.db'));
    try {
      expect(stored.cloudObjects().map((o) => [o.key, o.resourceVersion])).toEqual([[KEY, '111']]);
    } finally {
      stored.close();
    }
  });

  it('refuses an invalid device from the cloud without storing or running it', async () => {
    const bad = await sampleObjects('104');
    const device = bad.content.device as {
      metadata: { name: string };
      spec: { properties: { name: string }[] };
    };
    device.metadata.name = 'broken-01';
    device.spec.properties[0]!.name = 'no-such-property';
    hub.upsert('node-a', { ...bad, key: 'default/broken-01' });
    await waitFor('the edge answered', () => hub.unacknowledged('node-a') === 0);
    expect(edges[0]!.twinModule?.twins('default/broken-01')).toBeUndefined();
    expect(edges[0]!.twinModule?.twins(KEY)?.temperature).toBeDefined();
  });

  it('loses no report while the link is cut: the last value per property arrives after reconnect', async () => {
    const edge = edges[0]!;
    const health = async () => (await (await fetch(`${edge.httpUrl}/healthz`)).json()) as { cloud: string };
    const metric = async () =>
      (await (await fetch(`${edge.httpUrl}/metrics`)).text()).match(/^edgetwin_cloud_connected (\d)/m)?.[1];
    expect(await health()).toMatchObject({ status: 'ok', cloud: 'connected' });
    expect(await metric()).toBe('1');
    proxy.cut();
    await waitFor('the link down', () => !edge.edgeHub?.connected);
    expect(await health()).toMatchObject({ status: 'ok', cloud: 'disconnected' });
    expect(await metric()).toBe('0');
    simulator.set('temperature', 30.5);
    await waitFor(
      'the edge saw 30.5',
      () => edge.twinModule?.twins(KEY)?.temperature?.actual?.value === '30.5',
    );
    expect(cloud.reported.get(KEY)?.temperature?.actual?.value).not.toBe('30.5');
    proxy.restore();
    await waitFor('the cloud got 30.5', () => cloud.reported.get(KEY)?.temperature?.actual?.value === '30.5');
    expect(await metric()).toBe('1');
  });

  it('keeps running its devices from SQLite when it restarts with the cloud unreachable', async () => {
    const first = edges.shift()!;
    await first.stop();
    proxy.cut();
    const edge = await startEdge('node-a');
    expect(edge.twinModule?.twins(KEY)?.setpoint?.expected?.value).toBe('27');
    simulator.set('temperature', 31.5);
    await waitFor(
      'the edge polls offline',
      () => edge.twinModule?.twins(KEY)?.temperature?.actual?.value === '31.5',
    );
    proxy.restore();
    await waitFor('the cloud got 31.5', () => cloud.reported.get(KEY)?.temperature?.actual?.value === '31.5');
  });

  it('stops a device the cloud deletes, and one its membership no longer lists after a reconnect', async () => {
    const edge = edges.at(-1)!;
    hub.remove('node-a', KEY, '200');
    await waitFor('the device gone from the edge', () => edge.twinModule?.twins(KEY) === undefined);
    const back = await sampleObjects('201', '25');
    cloud.objects.set(KEY, { ...back, node: 'node-a' });
    hub.upsert('node-a', back);
    await waitFor('the device back', () => edge.twinModule?.twins(KEY));
    proxy.cut();
    cloud.objects.delete(KEY);
    await waitFor('the link down', () => !edge.edgeHub?.connected);
    proxy.restore();
    await waitFor('the device gone after the reconnect', () => edge.twinModule?.twins(KEY) === undefined);
  });

  /** A WebSocket to CloudHub with a joined node's certificate, and the responses it gets. */
  async function rawNode(node: string): Promise<{ ws: WebSocket; responses: HubMessage[] }> {
    const certs = join(dir, node, 'certs');
    const ws = new WebSocket(`wss://${hub.url}/edge`, {
      ca: await readFile(join(certs, 'ca.crt')),
      cert: await readFile(join(certs, 'node.crt')),
      key: await readFile(join(certs, 'node.key')),
    });
    const responses: HubMessage[] = [];
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as HubMessage;
      if (message.route.operation === 'response') responses.push(message);
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    return { ws, responses };
  }

  it("refuses a node that reports, or asks for, another node's device", async () => {
    await joinNode('node-b');
    const { ws, responses } = await rawNode('node-b');
    const attempts = [
      hubMessage('edgehub', 'update', hubResources.twin('node-b', KEY), {
        twin: { setpoint: { actual: { value: '5' } } },
      }),
      hubMessage('edgehub', 'update', hubResources.twin('node-a', KEY), {
        twin: { setpoint: { actual: { value: '5' } } },
      }),
      hubMessage('edgehub', 'query', hubResources.device('node-b', KEY), {}),
      hubMessage('edgehub', 'update', hubResources.state('node-b', KEY), { state: 'offline' }),
    ];
    for (const attempt of attempts) ws.send(JSON.stringify(attempt));
    await waitFor('every attempt answered', () => responses.length >= attempts.length);
    expect(responses.map((r) => (r.content as { code: number }).code)).toEqual([403, 403, 403, 403]);
    expect(cloud.reported.get(KEY)?.setpoint?.actual?.value).not.toBe('5');
    ws.terminate();
  });

  it('answers 503 to a report Kubernetes could not take yet, and 404 naming the resource to one it never will', async () => {
    const [stuck, never] = ['default/stuck', 'default/never'];
    const object = await sampleObjects('1');
    for (const key of [stuck, never]) cloud.objects.set(key, { ...object, key, node: 'node-c' });
    cloud.failures.set(stuck, new Error('connect ECONNREFUSED'));
    cloud.failures.set(never, new StatusResourceMissing('devices'));
    await joinNode('node-c');
    const { ws, responses } = await rawNode('node-c');
    for (const key of [stuck, never])
      ws.send(
        JSON.stringify(
          hubMessage('edgehub', 'update', hubResources.twin('node-c', key), {
            twin: { setpoint: { actual: { value: '5' } } },
          }),
        ),
      );
    await waitFor('both answered', () => responses.length >= 2);
    // The edge resends a 5xx and drops a 4xx.
    expect(responses.map((r) => r.content)).toEqual([
      { code: 503, reason: 'not stored: connect ECONNREFUSED' },
      { code: 404, reason: expect.stringMatching(/devices\.devices\.kubeedge\.io\/v1beta1 is not served/) },
    ]);
    ws.terminate();
    for (const key of [stuck, never]) cloud.objects.delete(key);
  });

  it("refuses a certificate signed by another cloud's CA", async () => {
    const other = await CloudPki.open(join(dir, 'other-pki'));
    const ws = new WebSocket(`wss://${hub.url}/edge`, {
      ca: pki.caPem,
      cert: other.serverCertPem,
      key: other.serverKeyPem,
    });
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => resolve(-1));
    });
    expect([401, -1]).toContain(status);
    ws.terminate();
  });

  it('refuses a connection without a node certificate', async () => {
    const ws = new WebSocket(`wss://${hub.url}/edge`, { ca: pki.caPem });
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
    expect([401, -1]).toContain(status);
  });
});
