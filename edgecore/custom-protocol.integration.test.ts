import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  defineProtocol,
  FreeForm,
  type HubDevice,
  loadDevices,
  type ResolvedDevice,
  type TwinValue,
} from '../device-models/internal.js';
import { loadBuiltInMapper } from '../mappers/index.js';
import { EventBus, MapperHost, type ProtocolMapper, silentLogger } from '../sdk/internal.js';
import { type TopicWatcher, watchTopics } from '../sdk/testing/index.js';
import { appUrl, mapperUrl } from '../test/support/edge-broker.js';
import { TwinStore } from '../twin/store.js';
import { CloudMetadata } from './cloud-metadata.js';
import { edgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';
import type { MetadataChange } from './metadata.js';

/**
 * A device on a protocol edgetwin has no mapper for (KubeEdge's `virtualProtocol` example shape): edgecore takes
 * it from a devices directory or from the cloud, keeps its twin, lists it as waiting, and a mapper of the user's
 * own (here built on the SDK, in its own EventBus connection as a separate process would be) serves it over
 * KubeEdge's topics: reported values in, desired values (set over HTTP or MQTT) out.
 */

const testdata = new URL('../device-models/validate/testdata/kubeedge/', import.meta.url);
const fixture = (name: string) => new URL(name, testdata).pathname;
const ID = 'default/dice-01';

/** What the user's "die" holds: the user's mapper reads and writes it. */
const held: Record<string, TwinValue> = { roll: 4, bias: 0.25 };

/** The user's own mapper: no schema checks of ours, a driver that talks to the "die". */
const diceMapper: ProtocolMapper = {
  schemas: defineProtocol({ protocol: 'virtualProtocol', configSchema: FreeForm, visitorSchema: FreeForm }),
  createDriver: () => ({
    connect: async () => {},
    read: async (point) => ({ value: held[point.name]!, quality: 'good', timestamp: Date.now() }),
    write: async (point, value) => {
      held[point.name] = value;
    },
    close: async () => {},
  }),
};

describe('a device on a protocol of your own, from a devices directory', () => {
  let dir: string;
  let edge: EdgeCore;
  let bus: EventBus;
  let mapper: MapperHost;
  let watch: TopicWatcher;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgecore-custom-'));
    const devices = join(dir, 'devices');
    await mkdir(devices);
    // The fixture as written, but read every 200 ms (it says 2 s) so that the test does not wait.
    const text = (await readFile(fixture('custom-protocol.yaml'), 'utf8')).replaceAll(': 2000', ': 200');
    await writeFile(join(devices, 'dice.yaml'), text);
    edge = new EdgeCore({
      config: edgeConfig({
        dataDir: join(dir, 'data'),
        eventBus: { internal: { port: 0 } },
        http: { port: 0 },
        devices: { dirs: [devices], watch: false },
      }),
    });
    await edge.start();
    watch = await watchTopics(appUrl(edge));
    // The user's mapper: its own connection to the broker (with the credentials of its protocol's mapper,
    // which `edgetwin broker credentials` prints), its own copy of the device files.
    bus = await EventBus.connect(mapperUrl(edge, 'virtualProtocol'), { clientId: 'dice-mapper' });
    const mine = (await loadDevices([devices])).devices
      .filter((d) => d.protocol === 'virtualProtocol')
      // Its pushes (an MQTT broker on 1883) are not what this test is about.
      .map((d) => ({ ...d, properties: d.properties.map(({ pushMethod: _, ...p }) => p) }));
    mapper = new MapperHost({
      bus,
      devices: mine,
      loadMapper: async (protocol) => (protocol === 'virtualProtocol' ? diceMapper : undefined),
      log: silentLogger,
    });
    await mapper.start();
  }, 30_000);

  afterAll(async () => {
    await mapper?.stop();
    await bus?.close();
    await watch?.close();
    await edge?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const view = async () =>
    (await (await fetch(`${edge.httpUrl}/api/v1/devices/${ID}`)).json()) as {
      protocol: string;
      state: string;
      twins: Record<string, { desired?: { value: string }; reported?: { value: string } }>;
      delta: Record<string, string>;
    };

  const reportedAs = (property: string, value: string) =>
    watch.next((m) => {
      const twin = m.payload.twin as Record<string, { actual?: { value?: string } }> | undefined;
      return (
        m.topic === `$hw/events/device/${ID}/twin/update/result` &&
        Number(twin?.[property]?.actual?.value) === Number(value)
      );
    });

  it('is stored with its twin, and listed as waiting for its mapper rather than run by edgecore', async () => {
    expect(edge.mapperHost!.waiting.get(ID)).toBe('virtualProtocol');
    expect(edge.mapperHost!.runtimes.has(ID)).toBe(false);
    // Any name waits, even one an object has for a property of its own.
    expect(await loadBuiltInMapper('constructor')).toBeUndefined();
    const device = await view();
    expect(device.protocol).toBe('virtualProtocol');
    expect(device.twins.bias!.desired).toMatchObject({ value: '0.25' });
  });

  it("is served by the user's mapper over the EventBus: reported values and the state reach the twin", async () => {
    await reportedAs('roll', '4');
    await watch.next(
      (m) => m.topic === `$hw/events/device/${ID}/state/update` && m.payload.state === 'online',
    );
    const device = await view();
    expect(device.twins.roll!.reported).toMatchObject({ value: '4' });
    expect(device.state).toBe('online');
  });

  it('takes a desired value set over HTTP to the mapper, and it comes back reported', async () => {
    const response = await fetch(`${edge.httpUrl}/api/v1/devices/${ID}/twins/bias/desired`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: '0.5' }),
    });
    expect(response.status).toBe(200);
    await reportedAs('bias', '0.5');
    expect(held.bias).toBe(0.5);
    const device = await view();
    expect(device.twins.bias).toMatchObject({ desired: { value: '0.5' }, reported: { value: '0.5' } });
    expect(device.delta).toEqual({});
  });

  it('takes a desired value set over MQTT (twin/update) to the mapper, and it comes back reported', async () => {
    watch.clear();
    await watch.client.publishAsync(
      `$hw/events/device/${ID}/twin/update`,
      JSON.stringify({
        event_id: 'bias-075',
        timestamp: Date.now(),
        twin: { bias: { expected: { value: '0.75' } } },
      }),
    );
    await reportedAs('bias', '0.75');
    expect(held.bias).toBe(0.75);
    expect((await view()).delta).toEqual({});
  });
});

describe('a device on a protocol of your own, sent from the cloud', () => {
  let dir: string;
  let store: TwinStore;
  const changes: MetadataChange[] = [];
  const metadata = () =>
    new CloudMetadata({
      store,
      log: silentLogger,
      nodeName: 'edge-node-1',
      onChange: async (change) => {
        changes.push(change);
      },
      syncDesired: async () => {},
    });

  /** A fixture's DeviceModel and each of its Devices, as cloudcore sends them. */
  async function sent(file: string): Promise<{ key: string; content: HubDevice }[]> {
    const docs = parseAllDocuments(await readFile(fixture(file), 'utf8')).map(
      (d) => d.toJS() as Record<string, unknown> & { kind: string; metadata: { name: string } },
    );
    const model = docs.find((d) => d.kind === 'DeviceModel')!;
    return docs
      .filter((d) => d.kind === 'Device')
      .map((device) => ({ key: `default/${device.metadata.name}`, content: { model, device } }));
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgecore-custom-cloud-'));
    store = TwinStore.open(join(dir, 'edgetwin.db'));
  });
  afterAll(async () => {
    store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is acknowledged (200), stored and run, like any device; so are protocol: {} and configData: null', async () => {
    const cloud = metadata();
    const objects = [
      ...(await sent('custom-protocol.yaml')),
      ...(await sent('model-without-protocol.yaml')),
      ...(await sent('config-data-null.yaml')),
      ...(await sent('empty-protocol.yaml')),
    ];
    for (const { key, content } of objects)
      expect(await cloud.upsert(key, '7', content), key).toEqual({ code: 200 });
    const run = (list: MetadataChange[]) =>
      Object.fromEntries(list.flatMap((c) => c.added).map((d: ResolvedDevice) => [d.id, d.protocol]));
    expect(run(changes)).toEqual({
      'default/dice-01': 'virtualProtocol',
      'default/air-quality-01': 'mqtt',
      'default/air-quality-02': '',
      'default/gate-camera-01': 'onvif',
      'default/ahu-01': 'bacnet',
    });
    // edgecore restarted without the cloud: the stored devices run again.
    changes.length = 0;
    await metadata().start();
    expect(Object.keys(run(changes)).sort()).toEqual(objects.map((o) => o.key).sort());
  });
});
