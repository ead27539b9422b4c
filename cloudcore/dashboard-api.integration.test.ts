import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { parseAllDocuments } from 'yaml';
import { hubMessage, hubResources, samplesDir } from '../device-models/internal.js';
import { joinCloud } from '../edgecore/join.js';
import { silentLogger } from '../sdk/logger.js';
import { type Cluster, startCluster } from '../test/k8s/cluster.js';
import { waitFor } from '../test/support/wait-for.js';
import { CloudCore } from './cloudcore.js';
import { startDashboardApi } from './dashboard-api.js';

/**
 * cloudcore's dashboard API against a real kube-apiserver (1.20) with the device CRDs: a real CloudCore with the
 * dashboard on, one edge node connected (a raw WebSocket with the node certificate a real join gives, speaking
 * the hub protocol), two nodes' Devices, and the API read with fetch and an SSE reader.
 */

const GROUP = { group: 'devices.kubeedge.io', version: 'v1beta1', namespace: 'default' };
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

interface Received {
  event: string;
  data: unknown;
  at: number;
}

/** An SSE reader over fetch: every event with the time it arrived, and next() to wait for one. */
async function openEvents(url: string, query = '') {
  const controller = new AbortController();
  const response = await fetch(`${url}/api/v1/events${query}`, { signal: controller.signal });
  const events: Received[] = [];
  const comments: string[] = [];
  const waiters = new Set<() => void>();
  let ended = false;
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const pump = (async () => {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) break;
      buffer += value;
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const at = performance.now();
        const lines = frame.split('\n');
        const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
        const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
        if (event && data) events.push({ event, data: JSON.parse(data), at });
        for (const l of lines) if (l.startsWith(':')) comments.push(l.slice(1).trim());
        end = buffer.indexOf('\n\n');
      }
      for (const wake of waiters) wake();
    }
    ended = true;
    for (const wake of waiters) wake();
  })();
  /** The first event from index `from` on that matches. */
  const next = (match: (e: Received) => boolean, from = 0, what = 'an event') =>
    waitForSignal(() => events.slice(from).find(match), what);
  const waitForSignal = <T>(probe: () => T | undefined | false, what: string, timeoutMs = 15_000) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const found = probe();
        if (found) {
          cleanup();
          resolve(found);
        } else if (ended) {
          cleanup();
          reject(new Error(`the event stream ended before ${what}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return {
    response,
    events,
    comments,
    next,
    until: <T>(probe: () => T | undefined | false, what: string) => waitForSignal(probe, what),
    ended: () => pump.then(() => ended),
    close: () => controller.abort(),
  };
}

describe('the dashboard API of cloudcore, from Kubernetes', () => {
  let cluster: Cluster;
  let dir: string;
  let kubeConfig: KubeConfig;
  let api: CustomObjectsApi;
  let cloud: CloudCore;
  let url: string;
  let ws: WebSocket;
  const objects: {
    model: Record<string, unknown>;
    device: { metadata: { name: string }; spec: Record<string, unknown> };
  } = { model: {}, device: { metadata: { name: '' }, spec: {} } };

  const getJson = async (path: string, init?: RequestInit) => {
    const response = await fetch(`${url}${path}`, init);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const put = (path: string, value: unknown, headers: Record<string, string> = {}) =>
    getJson(path, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ value }),
    });
  const deviceOf = (name: string) =>
    api.getNamespacedCustomObject({ ...GROUP, plural: 'devices', name }) as Promise<{
      metadata: { resourceVersion: string; generation: number };
      spec: { properties: { name: string; desired?: { value: string } }[] };
    }>;
  /** A copy of the sample thermostat for `node`; thermostat-02 has no desired value for its heater. */
  const thermostat = (name: string, nodeName: string) => {
    const copy = structuredClone(objects.device);
    copy.metadata.name = name;
    copy.spec.nodeName = nodeName;
    if (name === 'thermostat-02')
      for (const property of copy.spec.properties as { name: string; desired?: unknown }[])
        if (property.name === 'heater') delete property.desired;
    return copy;
  };
  /** The edge node's side of the hub: a report of twins or state, as edgecore's EdgeHub sends it. */
  const report = (resource: string, content: unknown) =>
    ws.send(JSON.stringify(hubMessage('edgehub', 'update', resource, content)));

  beforeAll(async () => {
    cluster = await startCluster(); // a cold build of kube-apiserver takes minutes
    await cluster.installCrds();
    dir = await mkdtemp(join(tmpdir(), 'dashboard-api-'));
    const text = await readFile(join(samplesDir(), 'modbus-tcp-thermostat.yaml'), 'utf8');
    const [model, device] = parseAllDocuments(text).map((d) => d.toJS());
    Object.assign(objects, { model, device });
    await cluster.run(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [model, thermostat('thermostat-01', 'node-a'), thermostat('thermostat-02', 'node-b')],
      }),
    );
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    api = kubeConfig.makeApiClient(CustomObjectsApi);
    const site = join(dir, 'site');
    await mkdir(site);
    await writeFile(join(site, 'index.html'), '<!doctype html><title>edgetwin</title>');
    cloud = new CloudCore({
      kubeconfig: cluster.kubeconfig,
      pkiDir: join(dir, 'pki'),
      host: '127.0.0.1',
      port: 0,
      statusIntervalMs: 20,
      dashboard: { host: '127.0.0.1', port: 0, staticDir: site, heartbeatMs: 200 },
    });
    await cloud.start();
    url = cloud.dashboardUrl!;

    // node-a joins (a real token and CSR) and connects with its certificate.
    const pki = await (await import('./pki.js')).CloudPki.open(join(dir, 'pki'));
    const nodeDir = join(dir, 'node-a');
    await joinCloud({
      cloud: cloud.url,
      token: await pki.issueToken(600),
      nodeName: 'node-a',
      dataDir: nodeDir,
      configFile: join(nodeDir, 'edge.yaml'),
    });
    const certs = join(nodeDir, 'certs');
    ws = new WebSocket(`wss://${cloud.url}/edge`, {
      ca: await readFile(join(certs, 'ca.crt')),
      cert: await readFile(join(certs, 'node.crt')),
      key: await readFile(join(certs, 'node.key')),
    });
    await once(ws, 'open');
  }, 600_000);

  afterAll(async () => {
    ws?.terminate();
    await cloud?.stop();
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("lists both nodes' devices with their node, and whether that node is connected here", async () => {
    const list = await waitFor('node-a connected in the list', async () => {
      const { body } = await getJson('/api/v1/devices');
      const rows = body as unknown as { id: string; nodeConnected: boolean }[];
      return rows.find((r) => r.id === 'default/thermostat-01')?.nodeConnected && rows;
    });
    expect(list).toEqual([
      {
        id: 'default/thermostat-01',
        namespace: 'default',
        name: 'thermostat-01',
        model: 'thermostat-model',
        protocol: 'modbus',
        state: 'unknown',
        lastOnlineTime: '',
        node: 'node-a',
        nodeConnected: true,
      },
      {
        id: 'default/thermostat-02',
        namespace: 'default',
        name: 'thermostat-02',
        model: 'thermostat-model',
        protocol: 'modbus',
        state: 'unknown',
        lastOnlineTime: '',
        node: 'node-b',
        nodeConnected: false,
      },
    ]);
    const ofNodeB = (await getJson('/api/v1/devices?node=node-b')).body as unknown as { id: string }[];
    expect(ofNodeB.map((d) => d.id)).toEqual(['default/thermostat-02']);
  });

  it("shows a device's twins: desired from the spec, reported and state from what its node reported", async () => {
    const key = 'default/thermostat-01';
    report(hubResources.twin('node-a', key), {
      twin: {
        temperature: {
          actual: { value: '21.3', metadata: { timestamp: 1_700_000_000_000 } },
          metadata: { type: 'float' },
        },
        setpoint: { actual: { value: '21.5' }, expected: { value: '21.5' }, metadata: { type: 'float' } },
      },
    });
    report(hubResources.state('node-a', key), { state: 'online', lastOnlineTime: '2026-01-01T00:00:00Z' });
    const view = await waitFor('the report in the view', async () => {
      const { body } = await getJson('/api/v1/devices/default/thermostat-01');
      return body.state === 'online' &&
        (body.twins as { temperature?: { reported: unknown } }).temperature?.reported
        ? body
        : undefined;
    });
    const { metadata } = await deviceOf('thermostat-01');
    expect(view).toMatchObject({
      id: key,
      state: 'online',
      lastOnlineTime: '2026-01-01T00:00:00Z',
      node: 'node-a',
      nodeConnected: true,
      twins: {
        temperature: {
          type: 'float',
          optional: false,
          desired: null,
          reported: { value: '21.3', timestamp: 1_700_000_000_000 },
        },
        setpoint: {
          type: 'float',
          desired: { value: '21.5', version: String(metadata.generation) },
          reported: { value: '21.5' },
          observedDesired: { value: '21.5' },
        },
        heater: { type: 'boolean', desired: { value: 'false' }, reported: null },
      },
      // The heater's desired value has no report yet; the setpoint's has.
      delta: { heater: 'false' },
    });
    expect((await getJson('/api/v1/devices/default/nope')).body).toEqual({
      code: 404,
      reason: 'no device default/nope',
    });
  });

  it("sets a desired value: it lands in the Device's spec, and the view shows it", async () => {
    const { status, body } = await put('/api/v1/devices/default/thermostat-02/twins/setpoint/desired', '24');
    const device = await deviceOf('thermostat-02');
    expect(status).toBe(200);
    expect(body).toMatchObject({
      id: 'default/thermostat-02',
      property: 'setpoint',
      type: 'float',
      desired: { value: '24', version: String(device.metadata.generation) },
    });
    expect(device.spec.properties.find((p) => p.name === 'setpoint')?.desired?.value).toBe('24');
    const plain = await fetch(`${url}/api/v1/devices/default/thermostat-02/twins/setpoint/desired`, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: '24\n',
    });
    expect(plain.status).toBe(200);
    // A property without a desired value gets one (and a JSON number or boolean is taken as its text).
    const heater = await put('/api/v1/devices/default/thermostat-02/twins/heater/desired', true);
    expect(heater.status).toBe(200);
    expect(
      (await deviceOf('thermostat-02')).spec.properties.find((p) => p.name === 'heater')?.desired,
    ).toEqual({
      value: 'true',
    });
    // The other properties are as they were.
    expect((await deviceOf('thermostat-02')).spec.properties.map((p) => p.name)).toEqual([
      'temperature',
      'setpoint',
      'heater',
    ]);
  });

  it('refuses a value the edge would refuse, naming the property', async () => {
    const path = (property: string) => `/api/v1/devices/default/thermostat-02/twins/${property}/desired`;
    const before = (await deviceOf('thermostat-02')).metadata.resourceVersion;
    expect(await put(path('setpoint'), '99')).toEqual({
      status: 400,
      body: { code: 400, reason: 'setpoint: 99 is above the maximum 35' },
    });
    expect(await put(path('setpoint'), 'warm')).toEqual({
      status: 400,
      body: { code: 400, reason: 'setpoint: "warm" is not a FLOAT' },
    });
    expect(await put(path('temperature'), '20')).toEqual({
      status: 400,
      body: { code: 400, reason: 'temperature: ReadOnly in the model, it cannot have a desired value' },
    });
    expect(await put(path('humidity'), '20')).toEqual({
      status: 404,
      body: { code: 404, reason: 'device default/thermostat-02 has no property "humidity"' },
    });
    expect((await put('/api/v1/devices/default/nope/twins/setpoint/desired', '20')).status).toBe(404);
    const malformed = await getJson(path('setpoint'), {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"temperature": 20}',
    });
    expect(malformed.status).toBe(400);
    expect((await deviceOf('thermostat-02')).metadata.resourceVersion).toBe(before);
  });

  it("writes with If-Match only while the Device's spec is at that version (409 when stale)", async () => {
    const path = '/api/v1/devices/default/thermostat-02/twins/setpoint/desired';
    const { generation } = (await deviceOf('thermostat-02')).metadata;
    // A status write (as the StatusWriter's state) changes the resourceVersion, not the spec's version.
    await api.patchNamespacedCustomObjectStatus(
      { ...GROUP, plural: 'devices', name: 'thermostat-02', body: { status: { state: 'online' } } },
      mergePatch,
    );
    const first = await put(path, '22', { 'if-match': `"${generation}"` });
    expect(first.status).toBe(200);
    expect(first.body.desired).toMatchObject({ value: '22', version: String(generation + 1) });
    const stale = await put(path, '23', { 'if-match': `"${generation}"` });
    expect(stale).toEqual({
      status: 409,
      body: {
        code: 409,
        reason: `device default/thermostat-02 changed since version ${generation}: read it again`,
      },
    });
    expect((await put(path, '23', { 'if-match': '1234abc' })).status).toBe(400);
    expect(
      (await deviceOf('thermostat-02')).spec.properties.find((p) => p.name === 'setpoint')?.desired?.value,
    ).toBe('22');
  });

  it('lands writes of two properties of one Device made at once (a lost race is read again and retried)', async () => {
    const path = (property: string) => `/api/v1/devices/default/thermostat-02/twins/${property}/desired`;
    const answers = await Promise.all([
      put(path('setpoint'), '25'),
      put(path('heater'), 'false'),
      cluster.run(['label', 'device', 'thermostat-02', 'raced=yes']),
    ]);
    expect(answers.slice(0, 2).map((a) => (a as { status: number }).status)).toEqual([200, 200]);
    const desired = Object.fromEntries(
      (await deviceOf('thermostat-02')).spec.properties.map((p) => [p.name, p.desired?.value]),
    );
    expect(desired).toEqual({ temperature: undefined, setpoint: '25', heater: 'false' });
  });

  it('says where the history is', async () => {
    expect(await getJson('/api/v1/devices/default/thermostat-01/twins/temperature/history')).toEqual({
      status: 404,
      body: { code: 404, reason: "history is kept at the edge: open the node's dashboard", node: 'node-a' },
    });
  });

  it('streams a twin event after a patch of the status, and measures how long it takes', async () => {
    const events = await openEvents(url);
    expect(events.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await cluster.run(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'devices.kubeedge.io/v1beta1',
        kind: 'DeviceStatus',
        metadata: { name: 'thermostat-02', namespace: 'default' },
      }),
    );
    // kubectl's way (kubectl 1.20 cannot patch the status subresource): a merge patch of …/status.
    const patchReported = (value: string) =>
      api.patchNamespacedCustomObjectStatus(
        {
          ...GROUP,
          plural: 'devicestatuses',
          name: 'thermostat-02',
          body: { status: { twins: [{ propertyName: 'temperature', reported: { value } }] } },
        },
        mergePatch,
      );
    const reportedIs = (value: string) => (e: Received) => {
      const data = e.data as { id: string; twins: { temperature?: { reported: { value: string } | null } } };
      return (
        e.event === 'twin' &&
        data.id === 'default/thermostat-02' &&
        data.twins.temperature?.reported?.value === value
      );
    };
    const from = events.events.length;
    await patchReported('19.5');
    const event = await events.next(reportedIs('19.5'), from, 'the twin event');
    expect(event.data).toMatchObject({
      id: 'default/thermostat-02',
      delta: { setpoint: '25', heater: 'false' },
    });

    const latencies: number[] = [];
    for (let i = 0; i < 50; i++) {
      const value = (20 + i / 10).toFixed(1);
      const start = performance.now();
      const index = events.events.length;
      await patchReported(value);
      const seen = await events.next(reportedIs(value), index, `the twin event for ${value}`);
      latencies.push(seen.at - start);
    }
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
    console.log(
      `status patch → SSE twin event over ${latencies.length} patches: p50 ${at(0.5).toFixed(1)} ms, ` +
        `p95 ${at(0.95).toFixed(1)} ms, max ${at(1).toFixed(1)} ms`,
    );
    // Heartbeats (every 200 ms here) keep the stream open.
    await events.until(() => events.comments.includes('ping'), 'a heartbeat');
    events.close();
  });

  it('opens a stream with hello (every device, or the one asked for), and tells of devices added and removed', async () => {
    const all = await openEvents(url);
    const one = await openEvents(url, '?device=default/thermostat-01');
    const hello = await all.next((e) => e.event === 'hello', 0, 'the hello');
    const devices = (hello.data as { devices: { id: string; node: string; properties: object }[] }).devices;
    expect(devices.map((d) => [d.id, d.node])).toEqual([
      ['default/thermostat-01', 'node-a'],
      ['default/thermostat-02', 'node-b'],
    ]);
    expect(devices[0]!.properties).toMatchObject({
      setpoint: { type: 'FLOAT', accessMode: 'ReadWrite', minimum: '5', maximum: '35', unit: '°C' },
    });
    const onlyOne = await one.next((e) => e.event === 'hello', 0, 'the hello of one device');
    expect((onlyOne.data as { devices: { id: string }[] }).devices.map((d) => d.id)).toEqual([
      'default/thermostat-01',
    ]);

    await cluster.run(['apply', '-f', '-'], JSON.stringify(thermostat('thermostat-09', 'node-c')));
    const added = await all.next((e) => e.event === 'device', 0, 'the device event');
    expect(added.data).toMatchObject({ id: 'default/thermostat-09', node: 'node-c', nodeConnected: false });
    await cluster.run(['delete', 'device', 'thermostat-09']);
    expect((await all.next((e) => e.event === 'removed', 0, 'the removed event')).data).toEqual({
      id: 'default/thermostat-09',
    });
    // The stream of one device heard nothing of the other.
    expect(one.events.filter((e) => e.event !== 'hello')).toEqual([]);
    all.close();
    one.close();
  });

  it("streams a state event when a node's connection goes", async () => {
    const events = await openEvents(url);
    const from = events.events.length;
    ws.terminate();
    const event = await events.next(
      (e) => {
        const data = e.data as { id: string; nodeConnected: boolean };
        return e.event === 'state' && data.id === 'default/thermostat-01' && !data.nodeConnected;
      },
      from,
      'the state event',
    );
    expect(event.data).toEqual({
      id: 'default/thermostat-01',
      state: expect.any(String), // what the node last reported (online), or what cloudcore made of its going
      lastOnlineTime: '2026-01-01T00:00:00Z',
      node: 'node-a',
      nodeConnected: false,
    });
    events.close();
  });

  it('serves the dashboard, health and the OpenAPI document, and refuses a foreign Host', async () => {
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>edgetwin</title>');
    expect(await getJson('/healthz')).toEqual({ status: 200, body: { status: 'ok', devices: 2, nodes: 0 } });
    const openapi = (await getJson('/api/openapi.json')).body as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/devices',
        '/api/v1/devices/{namespace}/{name}/twins/{property}/desired',
      ]),
    );
    const { port } = new URL(url);
    const rebound = await new Promise<{ status?: number; body: string }>((resolve, reject) => {
      // fetch does not let a caller set Host: a raw request does.
      import('node:http').then(({ request }) => {
        const req = request({
          host: '127.0.0.1',
          port,
          path: '/api/v1/devices',
          headers: { host: `evil.example:${port}` },
        });
        req.on('response', async (res) => {
          let body = '';
          for await (const chunk of res) body += chunk;
          resolve({ status: res.statusCode, body });
        });
        req.on('error', reject);
        req.end();
      }, reject);
    });
    expect(rebound.status).toBe(421);
    expect(JSON.parse(rebound.body).reason).toMatch(/evil\.example.*DNS rebinding/);
  });

  it('ends the event streams when cloudcore stops', async () => {
    const events = await openEvents(url);
    await events.next((e) => e.event === 'hello', 0, 'the hello');
    await cloud.stop();
    expect(await events.ended()).toBe(true);
  });

  it("on KubeEdge's CRDs (twins in Device.status), finds that by itself and streams from there", async () => {
    await cluster.deleteCrds();
    await cluster.installCrds('kubeedge');
    await cluster.run(
      ['apply', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'List',
        items: [objects.model, thermostat('thermostat-03', 'node-a')],
      }),
    );
    const dashboard = await startDashboardApi({
      kubeConfig,
      log: silentLogger,
      host: '127.0.0.1',
      port: 0,
      staticDir: join(dir, 'nothing-here'),
    });
    try {
      url = dashboard.url;
      const events = await openEvents(url);
      const from = events.events.length;
      // KubeEdge's CRDs have no status subresource: status is a merge patch of the Device itself.
      await api.patchNamespacedCustomObject(
        {
          ...GROUP,
          plural: 'devices',
          name: 'thermostat-03',
          body: {
            status: { state: 'online', twins: [{ propertyName: 'temperature', reported: { value: '18' } }] },
          },
        },
        mergePatch,
      );
      const event = await events.next(
        (e) =>
          e.event === 'twin' &&
          (e.data as { twins: { temperature: { reported: unknown } } }).twins.temperature.reported !== null,
        from,
        'the twin event',
      );
      expect(event.data).toMatchObject({
        id: 'default/thermostat-03',
        twins: { temperature: { reported: { value: '18' } } },
      });
      expect((await getJson('/api/v1/devices')).body).toMatchObject([
        { id: 'default/thermostat-03', state: 'online' },
      ]);
      // A second one on the same port says so.
      await expect(
        startDashboardApi({ kubeConfig, log: silentLogger, host: '127.0.0.1', port: dashboard.port }),
      ).rejects.toThrow(`dashboard: cannot listen on 127.0.0.1:${dashboard.port}: listen EADDRINUSE`);
      const page = await getJson('/');
      expect(page.status).toBe(404);
      expect(page.body.reason).toMatch(/^the dashboard is not built \(no index.html in .*nothing-here/);
      events.close();
    } finally {
      await dashboard.close();
    }
  });
});
