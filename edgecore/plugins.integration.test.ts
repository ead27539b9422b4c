import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadDevices } from '../device-models/index.js';
import { loadPlugin } from '../mappers/plugins.js';
import { startSimulator } from '../mappers/simulators.js';
import type { RunningSimulator } from '../sdk/index.js';
import { type TopicWatcher, watchTopics } from '../sdk/testing/index.js';
import { appUrl } from '../test/support/edge-broker.js';
import { waitFor } from '../test/support/wait-for.js';
import { loadEdgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';

/**
 * A protocol from another npm package: edge.yaml names the package (`mappers.plugins`), resolved from the
 * config file's directory (a node_modules there links to test/fixtures/plugins/edgetwin-mapper-echo). Its
 * schemas check its devices, its driver is imported when its device starts, and the device goes online,
 * reports over the EventBus and takes a desired value. Bad plug-ins are named in the log and their devices
 * wait, as any protocol of your own does.
 */

const fixture = new URL('../test/fixtures/plugins/edgetwin-mapper-echo', import.meta.url).pathname;
const ID = 'default/echo-01';

const model = (protocol: string) => ({
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'DeviceModel',
  metadata: { name: `${protocol}-model`, namespace: 'default' },
  spec: {
    protocol,
    properties: [
      { name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly' },
      { name: 'setpoint', type: 'FLOAT', accessMode: 'ReadWrite', minimum: '5', maximum: '35' },
    ],
  },
});

const device = (protocol: string, name: string, port: number) => ({
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: { name, namespace: 'default' },
  spec: {
    deviceModelRef: { name: `${protocol}-model` },
    nodeName: 'edge-node-1',
    protocol: { protocolName: protocol, configData: { port } },
    properties: [
      {
        name: 'temperature',
        collectCycle: 100,
        reportCycle: 100,
        reportToCloud: true,
        visitors: { protocolName: protocol, configData: { key: 'temp' } },
      },
      {
        name: 'setpoint',
        collectCycle: 100,
        reportCycle: 100,
        reportToCloud: true,
        desired: { value: '21' },
        visitors: { protocolName: protocol, configData: { key: 'sp' } },
      },
    ],
  },
});

const yaml = (...docs: object[]) => docs.map((d) => stringify(d)).join('---\n');

/** A package directory in `dir`'s node_modules with the given files. */
async function fakePackage(dir: string, name: string, files: Record<string, string>) {
  const root = join(dir, 'node_modules', name);
  await mkdir(root, { recursive: true });
  await writeFile(
    join(root, 'package.json'),
    JSON.stringify({ name, type: 'module', exports: { '.': './index.js' } }),
  );
  for (const [file, text] of Object.entries(files)) await writeFile(join(root, file), text);
}

describe('a protocol from a plug-in package named in edge.yaml', () => {
  let dir: string;
  let edge: EdgeCore;
  let watch: TopicWatcher;
  let simulator: RunningSimulator & { values?: Map<string, string> };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgecore-plugins-'));
    await mkdir(join(dir, 'node_modules'), { recursive: true });
    await symlink(fixture, join(dir, 'node_modules', 'edgetwin-mapper-echo'), 'dir');
    // Bad plug-ins: one exports nothing usable, one takes a built-in protocol's name, one is not installed.
    await fakePackage(dir, '@bad/no-export', { 'index.js': 'export const something = 1;\n' });
    await fakePackage(dir, '@bad/clash', {
      'index.js':
        "export default { protocol: 'modbus', configSchema: {type:'object'}, visitorSchema: {type:'object'}, loadDriver: async () => ({}) };\n",
    });
    // The echo device the edge's devices talk to, started from the plug-in's own simulator.
    const registration = await loadPlugin('edgetwin-mapper-echo', { from: dir });
    const devicesDir = join(dir, 'devices');
    await mkdir(devicesDir);
    await writeFile(join(devicesDir, 'echo.yaml'), yaml(model('echo'), device('echo', 'echo-01', 0)));
    const [echo] = (await loadDevices([devicesDir], { protocols: [registration] })).devices;
    simulator = (await startSimulator(echo!, { port: 0 }, [registration]))!;
    const port = simulator.reached.port as number;
    await writeFile(join(devicesDir, 'echo.yaml'), yaml(model('echo'), device('echo', 'echo-01', port)));
    // A device of a plug-in that did not load waits, as a protocol of your own does.
    await writeFile(join(devicesDir, 'other.yaml'), yaml(model('other'), device('other', 'other-01', port)));
    const config = join(dir, 'edge.yaml');
    await writeFile(
      config,
      stringify({
        dataDir: join(dir, 'data'),
        eventBus: { internal: { port: 0 } },
        http: { port: 0 },
        devices: { dirs: [devicesDir], watch: false },
        mappers: { plugins: ['edgetwin-mapper-echo', '@bad/no-export', '@bad/clash', '@bad/missing'] },
      }),
    );
    edge = new EdgeCore({ config: await loadEdgeConfig(config), configDir: dir });
    await edge.start();
    watch = await watchTopics(appUrl(edge));
  }, 30_000);

  afterAll(async () => {
    await watch?.close();
    await edge?.stop();
    await simulator?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const reportedAs = (property: string, value: number) =>
    watch.next((m) => {
      const twin = m.payload.twin as Record<string, { actual?: { value?: string } }> | undefined;
      return (
        m.topic === `$hw/events/device/${ID}/twin/update/result` &&
        Number(twin?.[property]?.actual?.value) === value
      );
    });

  it('knows the plug-in protocol beside the built-in ones, and leaves out the bad plug-ins', () => {
    expect(edge.protocols.map((p) => p.protocol)).toEqual([
      'modbus',
      'opcua',
      'ble',
      'serial',
      'http',
      'echo',
    ]);
  });

  const view = async () =>
    (await (await fetch(`${edge.httpUrl}/api/v1/devices/${ID}`)).json()) as {
      state: string;
      twins: Record<string, { desired?: { value: string }; reported?: { value: string } }>;
    };

  it('runs the device: online, the spec desired value written, reports over the EventBus', async () => {
    expect(edge.mapperHost!.runtimes.has(ID)).toBe(true);
    // The state and the first reports came over the EventBus before the watcher was there: the twin has them.
    await waitFor('the device online', async () => (await view()).state === 'online');
    await waitFor('the desired setpoint written', () => simulator.values!.get('sp') === '21');
    await waitFor(
      'the setpoint reported',
      async () => (await view()).twins.setpoint?.reported?.value === '21',
    );
    simulator.values!.set('temp', '19.5');
    await reportedAs('temperature', 19.5);
  });

  it('takes a desired value set over HTTP to the device', async () => {
    const response = await fetch(`${edge.httpUrl}/api/v1/devices/${ID}/twins/setpoint/desired`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: '23.5' }),
    });
    expect(response.status).toBe(200);
    await reportedAs('setpoint', 23.5);
    expect(simulator.values!.get('sp')).toBe('23.5');
  });

  it('lists a device of a protocol no plug-in loaded as waiting, and keeps running', () => {
    expect(edge.mapperHost!.waiting.get('default/other-01')).toBe('other');
  });
});
