import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Modbus from 'modbus-serial';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { type HubMessage, hubMessage, hubResources } from '../../device-models/internal.js';
import { type Cluster, startCluster } from '../k8s/cluster.js';
import { connectNode } from '../support/hub-connect.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait-for.js';

/**
 * The whole path as an operator runs it: a real kube-apiserver with `edgetwin crds | kubectl apply -f -`, `edgetwin cloud`, an `edgetwin edge` joined
 * with `edgetwin token` + `edgetwin join`, and `edgetwin sim modbus`, each its own process. The edge dials
 * the cloud through a TCP relay so the test can cut the link. Then the same API server gets KubeEdge's CRDs
 * instead (test/fixtures/kubeedge-crds: no DeviceStatus, no status subresource), cloudcore is started again,
 * and the kubectl flow is run once more, with the twins in Device.status.
 */

const bin = new URL('../../dist/edgecore/cli/main.js', import.meta.url).pathname;
const sample = new URL('../../device-models/samples/modbus-tcp-thermostat.yaml', import.meta.url).pathname;
const NODE = 'gateway-a';
const CUT_SECONDS = Number(process.env.EDGETWIN_E2E_CUT_SECONDS ?? 30);

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

function cli(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], (error, stdout, stderr) =>
      resolve({ stdout, stderr, code: error ? Number(error.code ?? 1) : 0 }),
    );
  });
}

/** The first match of `pattern` on the child's stdout or stderr. */
function output(child: ChildProcess, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const check = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = seen.match(pattern);
      if (match) resolve(match);
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code) =>
      reject(new Error(`exited with ${code} before printing ${pattern}:\n${seen}`)),
    );
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  await once(child, 'exit');
}

interface StatusTwin {
  propertyName: string;
  reported?: { value: string };
  observedDesired?: { value: string };
}

/** cloudcore's log line saying where it writes status (pino JSON on stderr). */
const statusModeLine = (child: ChildProcess) =>
  output(child, /\{[^\n]*"msg":"status write mode"[^\n]*\}/).then(([line]) => JSON.parse(line) as object);

describe('Kubernetes ↔ cloudcore ↔ edgecore ↔ device', () => {
  let cluster: Cluster;
  let dir: string;
  let proxy: TcpProxy;
  let cloudUrl: string;
  let edgeHttp: string;
  let simPort: number;
  let sim: ChildProcess;
  let cloud: ChildProcess;
  let cloudMode: Promise<object>;
  const children: ChildProcess[] = [];

  const kubectl = async (...args: string[]) => {
    const result = await cluster.kubectl(args);
    if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  /** The status of the DeviceStatus (edgetwin's CRDs) or of the Device itself (KubeEdge's). */
  const deviceStatus = async (kind: 'devicestatus' | 'device' = 'devicestatus') => {
    const status = JSON.parse(await kubectl('get', kind, 'thermostat-01', '-o', 'json')) as {
      status?: { twins?: StatusTwin[]; state?: string };
    };
    return status.status ?? {};
  };
  const statusTwin = async (name: string, kind: 'devicestatus' | 'device' = 'devicestatus') =>
    (await deviceStatus(kind)).twins?.find((t) => t.propertyName === name);
  const edgeTwins = async () => {
    const response = await fetch(`${edgeHttp}/api/v1/devices/default/thermostat-01`);
    if (!response.ok) return undefined;
    return ((await response.json()) as { twins: Record<string, { reported?: { value: string } | null }> })
      .twins;
  };

  beforeAll(async () => {
    cluster = await startCluster();
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-k8s-e2e-'));
    const manifests = await cli(['crds']);
    const applied = await cluster.kubectl(['apply', '-f', '-'], manifests.stdout);
    expect(applied.code, applied.stderr).toBe(0);
    await kubectl('wait', '--for', 'condition=established', '--timeout=60s', 'crd', '--all');

    cloud = startCloud();
    cloudMode = statusModeLine(cloud);
    cloudUrl = (await output(cloud, /connect and join at (\S+)/))[1]!;
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(cloudUrl.split(':')[1]) });

    sim = startSim();
    simPort = Number((await output(sim, /"port":(\d+)/))[1]);

    const token = await cli(['token', '--pki', join(dir, 'pki'), '--ttl', '10m']);
    expect(token.code).toBe(0);
    const config = join(dir, 'edge.yaml');
    const joined = await cli([
      'join',
      ...['--cloud', cloudUrl, '--token', token.stdout.trim(), '--node-name', NODE],
      ...['--data', join(dir, 'edge'), '--config', config],
    ]);
    expect(joined.code, joined.stderr).toBe(0);
    const doc = parseDocument(await readFile(config, 'utf8'));
    doc.setIn(['cloud', 'server'], proxy.address);
    doc.setIn(['cloud', 'keepaliveSeconds'], 1);
    doc.setIn(['cloud', 'reconnectMaxSeconds'], 1);
    doc.setIn(['eventBus', 'internal', 'port'], 0);
    doc.setIn(['http', 'port'], 0);
    doc.setIn(['devices', 'dirs'], []);
    await writeFile(config, doc.toString());
    const edge = start(['edge', '--config', config]);
    children.push(edge);
    edgeHttp = (await output(edge, /http (http:\/\/\S+)/))[1]!;
  }, 900_000);

  function startCloud(): ChildProcess {
    const child = start([
      'cloud',
      ...['--kubeconfig', cluster.kubeconfig, '--listen', '127.0.0.1:0', '--pki', join(dir, 'pki')],
      ...['--status-interval', '200', '--keepalive', '1'],
    ]);
    children.push(child);
    return child;
  }

  function startSim(): ChildProcess {
    const child = start(['sim', 'modbus', sample, '--port', '0']);
    children.push(child);
    return child;
  }

  /** The sample, on the simulator's port and this test's node, applied with kubectl. */
  async function applySample(): Promise<void> {
    const manifest = (await readFile(sample, 'utf8'))
      .replace(/port: \d+/, `port: ${simPort}`)
      .replace(/nodeName: \S+/, `nodeName: ${NODE}`);
    const applied = await cluster.kubectl(['apply', '-f', '-'], manifest);
    expect(applied.code, applied.stderr).toBe(0);
  }

  /**
   * The operator's round trip: kubectl patch of the setpoint's desired value, the simulator's holding register
   * written (tenths of a degree), and the value back in `kind`'s status as reported and observed.
   */
  async function setpointRoundTrip(value: number, kind: 'devicestatus' | 'device'): Promise<StatusTwin> {
    const device = JSON.parse(await kubectl('get', 'device', 'thermostat-01', '-o', 'json')) as {
      spec: { properties: { name: string; desired?: { value: string } }[] };
    };
    const properties = device.spec.properties.map((p) =>
      p.name === 'setpoint' ? { ...p, desired: { value: String(value) } } : p,
    );
    await kubectl(
      'patch',
      'device',
      'thermostat-01',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { properties } }),
    );

    const modbus = new Modbus.default();
    await modbus.connectTCP('127.0.0.1', { port: simPort });
    modbus.setID(1);
    try {
      await waitFor(
        `register 0 = ${value * 10}`,
        async () => (await modbus.readHoldingRegisters(0, 1)).data[0] === value * 10,
      );
    } finally {
      modbus.close(() => {});
    }
    return await waitFor(`setpoint ${value} in the ${kind}'s status`, async () => {
      const twin = await statusTwin('setpoint', kind);
      return twin?.reported?.value === String(value) && twin.observedDesired?.value === String(value) && twin;
    });
  }

  afterAll(async () => {
    for (const child of children.reverse()) await stop(child);
    await proxy?.close();
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('kubectl apply makes the device appear at the edge', async () => {
    expect(await cloudMode).toMatchObject({ kind: 'DeviceStatus', resource: 'devicestatuses/status' });
    await applySample();
    const twins = await waitFor(
      'the twin',
      async () => (await edgeTwins())?.temperature?.reported && edgeTwins(),
    );
    expect(Object.keys(twins!)).toEqual(expect.arrayContaining(['temperature', 'setpoint', 'heater']));
    await waitFor('DeviceStatus online', async () => (await deviceStatus()).state === 'online');
  });

  it('kubectl patch writes the holding register, and the DeviceStatus shows it reported and observed', async () => {
    const setpoint = await setpointRoundTrip(24, 'devicestatus');
    expect(setpoint).toMatchObject({ reported: { value: '24' }, observedDesired: { value: '24' } });
    const yaml = await kubectl('get', 'devicestatus', 'thermostat-01', '-o', 'yaml');
    expect(yaml).toContain('observedDesired');
  });

  it(`loses nothing reported while the link is cut for ${CUT_SECONDS} s`, async () => {
    proxy.cut();
    const cutUntil = Date.now() + CUT_SECONDS * 1000;
    const seen = new Set<string>();
    while (Date.now() < cutUntil) {
      const value = (await edgeTwins())?.temperature?.reported?.value;
      if (value) seen.add(value);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(seen.size).toBeGreaterThan(1);
    // The device stops answering at the end of the outage, so its last values are final.
    await stop(sim);
    await waitFor(
      'the device offline at the edge',
      async () => {
        const response = await fetch(`${edgeHttp}/api/v1/devices/default/thermostat-01`);
        return ((await response.json()) as { state?: string }).state === 'offline';
      },
      30_000,
    );
    const last = await edgeTwins();
    // Nothing of the outage has reached Kubernetes yet: the device went offline while the link was down.
    expect((await deviceStatus()).state).toBe('online');
    proxy.restore();
    await waitFor(
      'every last value and the offline state in the DeviceStatus',
      async () => {
        const status = await deviceStatus();
        const reported = Object.fromEntries(
          (status.twins ?? []).map((t) => [t.propertyName, t.reported?.value]),
        );
        return (
          status.state === 'offline' &&
          Object.entries(last!).every(([name, twin]) => reported[name] === twin.reported?.value)
        );
      },
      30_000,
    );
  }, 120_000);

  it("refuses a second node's certificate for the first node's device", async () => {
    const token = await cli(['token', '--pki', join(dir, 'pki')]);
    const joined = await cli([
      'join',
      ...['--cloud', cloudUrl, '--token', token.stdout.trim(), '--node-name', 'gateway-b'],
      ...['--data', join(dir, 'edge-b'), '--config', join(dir, 'edge-b.yaml')],
    ]);
    expect(joined.code, joined.stderr).toBe(0);
    const certs = join(dir, 'edge-b', 'certs');
    const { ws, status } = await connectNode(certs, cloudUrl);
    expect(status).toBe(101);
    const received: HubMessage[] = [];
    ws.on('message', (data) => received.push(JSON.parse(data.toString()) as HubMessage));
    const key = 'default/thermostat-01';
    const attempts = [
      hubMessage('edgehub', 'query', hubResources.device('gateway-b', key), {}),
      hubMessage('edgehub', 'query', hubResources.device(NODE, key), {}),
      hubMessage('edgehub', 'update', hubResources.twin('gateway-b', key), {
        twin: { setpoint: { actual: { value: '6' } } },
      }),
      hubMessage('edgehub', 'update', hubResources.twin(NODE, key), {
        twin: { setpoint: { actual: { value: '6' } } },
      }),
    ];
    for (const attempt of attempts) ws.send(JSON.stringify(attempt));
    const responses = await waitFor('answers', async () => {
      const answers = received.filter((m) => m.route.operation === 'response');
      return answers.length >= attempts.length && answers;
    });
    expect(responses.map((r) => (r.content as { code: number }).code)).toEqual([403, 403, 403, 403]);
    // Its membership is empty: it was never sent the device.
    const membership = received.find((m) => m.route.resource === hubResources.membership('gateway-b'));
    expect(membership?.content).toEqual({ devices: [] });
    expect(
      received.some((m) => m.route.resource.includes('thermostat-01') && m.route.operation !== 'response'),
    ).toBe(false);
    ws.terminate();
    expect((await statusTwin('setpoint'))?.reported?.value).toBe('24');
  });

  describe("with KubeEdge's own CRDs on the same API server (no DeviceStatus, no status subresource)", () => {
    beforeAll(async () => {
      await stop(cloud);
      await cluster.deleteCrds();
      await cluster.installCrds('kubeedge');
      sim = startSim();
      simPort = Number((await output(sim, /"port":(\d+)/))[1]);
      cloud = startCloud();
      cloudMode = statusModeLine(cloud);
      const url = (await output(cloud, /connect and join at (\S+)/))[1]!;
      proxy.retarget({ host: '127.0.0.1', port: Number(url.split(':')[1]) });
    }, 60_000);

    it('cloudcore finds no status subresource, and says it patches the Device itself', async () => {
      expect(await cloudMode).toMatchObject({
        kind: 'Device',
        resource: 'devices',
        fallback: expect.any(String),
      });
      expect((await cluster.kubectl(['get', 'devicestatus'])).code).not.toBe(0); // not served here
    });

    it('kubectl apply, then kubectl patch: the register is written and Device.status shows it', async () => {
      await applySample();
      await waitFor('Device.status online', async () => (await deviceStatus('device')).state === 'online');
      const setpoint = await setpointRoundTrip(26, 'device');
      expect(setpoint).toMatchObject({ reported: { value: '26' }, observedDesired: { value: '26' } });
      const device = JSON.parse(await kubectl('get', 'device', 'thermostat-01', '-o', 'json'));
      expect(device.spec.properties.find((p: { name: string }) => p.name === 'setpoint').desired).toEqual({
        value: '26',
      });
    }, 30_000);
  });
});
