import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TWIN_VALUE_TYPES } from '../device-models/internal.js';
import { EventBus } from '../sdk/eventbus/event-bus.js';
import { type TopicWatcher, type WatchedMessage, watchTopics } from '../sdk/testing/index.js';
import { edgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';

/**
 * The twin module on the EventBus, driven over MQTT as mappers and apps drive it: edgecore in-process with its
 * embedded broker, a SQLite file and the HTTP API, no mapper running (nothing answers desired values but the
 * messages a test sends). The thermostat's setpoint is a FLOAT of 5–35, its heater a BOOLEAN.
 */

const sample = new URL('../device-models/samples/modbus-tcp-thermostat.yaml', import.meta.url).pathname;
// A name of its own: with MQTT_URL the broker may be shared with other suites using the sample's.
const NAME = `thermostat-${randomUUID().slice(0, 8)}`;
const ID = `default/${NAME}`;
const topic = (suffix: string) => `$hw/events/device/${ID}/${suffix}`;
/** A scale on a protocol of the user's own: a DOUBLE and a BYTES property (types KubeEdge's twin has not). */
const SCALE = `scale-${randomUUID().slice(0, 8)}`;
const SCALE_ID = `default/${SCALE}`;
const scaleTopic = (suffix: string) => `$hw/events/device/${SCALE_ID}/${suffix}`;
const scaleYaml = `
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: ${SCALE}-model, namespace: default }
spec:
  protocol: virtualProtocol
  properties:
    - { name: weight, type: DOUBLE, accessMode: ReadOnly }
    - { name: photo, type: BYTES, accessMode: ReadOnly }
    - { name: tare, type: BOOLEAN, accessMode: ReadWrite }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: ${SCALE}, namespace: default, labels: { description: bench-scale } }
spec:
  deviceModelRef: { name: ${SCALE}-model }
  nodeName: edge-node-1
  protocol: { protocolName: virtualProtocol }
  properties:
    - { name: weight, reportToCloud: true }
    - { name: photo, reportToCloud: true }
    - { name: tare, reportToCloud: true, desired: { value: "false" } }
`;

type Twins = Record<
  string,
  {
    expected?: { value: string };
    actual?: { value: string; metadata?: { reason?: string } };
    expected_version?: { cloud: number; edge: number };
  }
>;
interface DeviceView {
  twins: Record<
    string,
    { desired: { value: string } | null; reported: { value: string; reason?: string } | null }
  >;
  delta: Record<string, string>;
}

describe('twin module', () => {
  let dir: string;
  let edge: EdgeCore | undefined;
  let watch: TopicWatcher | undefined;
  let dataDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twin-module-'));
    // No mapper runs, so the port is never dialled.
    await writeFile(
      join(dir, 'thermostat.yaml'),
      (await readFile(sample, 'utf8')).replaceAll('thermostat-01', NAME),
    );
    await writeFile(join(dir, 'scale.yaml'), scaleYaml);
  });
  afterEach(async () => {
    await watch?.close();
    watch = undefined;
    await edge?.stop();
    edge = undefined;
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** edgecore on a fresh database (or, with `again`, on the previous test's), watched from the first message on. */
  async function startEdge(options: { again?: boolean; external?: string } = {}) {
    if (!options.again) dataDir = join(dir, `data-${randomUUID().slice(0, 8)}`);
    const eventBus = options.external
      ? { mode: 'external', external: { url: options.external } }
      : { internal: { port: 0, auth: 'none' } }; // the twin's rules, not the broker's ACL
    edge = new EdgeCore({
      config: edgeConfig({
        dataDir,
        eventBus,
        http: { port: 0 },
        devices: { dirs: [dir], watch: false },
        mappers: { inProcess: false },
      }),
    });
    await edge.start();
    watch = await watchTopics(edge.brokerUrl, `$hw/events/device/${ID}/#`);
    return watch;
  }

  /** Publishes a `twin/update` (QoS 1); resolves, once the broker has it, to a wait for its result. */
  async function send(twin: Record<string, unknown>): Promise<() => Promise<WatchedMessage>> {
    const eventId = randomUUID();
    await watch!.client.publishAsync(
      topic('twin/update'),
      JSON.stringify({ event_id: eventId, timestamp: Date.now(), twin }),
      { qos: 1 },
    );
    return () =>
      watch!.next((m) => m.topic === topic('twin/update/result') && m.payload.event_id === eventId);
  }

  /** Publishes a `twin/update` and waits for its result. */
  const update = async (twin: Record<string, unknown>) => (await send(twin))();

  /** Every delta message from now (or already seen), up to and including the first asking `property` = `value`. */
  async function deltaMessagesUntil(property: string, value: string): Promise<WatchedMessage[]> {
    const deltas: WatchedMessage[] = [];
    await watch!.next((m) => {
      if (m.topic !== topic('twin/update/delta')) return false;
      deltas.push(m);
      return (m.payload.delta as Record<string, string>)[property] === value;
    });
    return deltas;
  }
  const deltasUntil = async (property: string, value: string) =>
    (await deltaMessagesUntil(property, value)).map((m) => m.payload.delta as Record<string, string>);

  const device = async () =>
    (await (await fetch(`${edge!.httpUrl}/api/v1/devices/${ID}`)).json()) as DeviceView;

  it('publishes a standing delta once, however many reports come while it stands', async () => {
    await startEdge();
    await update({ setpoint: { expected: { value: '23.55' } }, heater: { actual: { value: 'false' } } });
    // The device holds what its register can (tenths), and says so in every report, as the runtime does.
    for (let i = 0; i < 100; i++)
      await send({
        temperature: { actual: { value: (20 + i / 10).toFixed(1) } },
        setpoint: { actual: { value: '23.5', metadata: { reason: 'the register holds tenths' } } },
      });
    // A change that does produce a delta: MQTT on one connection is ordered, so every delta the reports
    // caused has arrived before this one.
    await update({ setpoint: { expected: { value: '24' } } });
    expect(await deltasUntil('setpoint', '24')).toEqual([{ setpoint: '23.55' }, { setpoint: '24' }]);
  });

  it('publishes a document only when a value changed, not for a report repeating one', async () => {
    await startEdge();
    await update({ temperature: { actual: { value: '21.5' } } });
    const repeat = await (await send({ temperature: { actual: { value: '21.5' } } }))();
    // The repeat is still a write, as in KubeEdge: its result carries the bumped version.
    expect(repeat.payload.twin).toMatchObject({ temperature: { actual: { value: '21.5' } } });
    const change = (await send({ temperature: { actual: { value: '21.6' } } }))();
    const eventIds: unknown[] = [];
    await watch!.next((m) => {
      if (m.topic !== topic('twin/update/document')) return false;
      eventIds.push(m.payload.event_id);
      const twin = m.payload.twin as Record<string, { current: { actual: { value: string } } }>;
      return twin.temperature?.current.actual.value === '21.6';
    });
    await change;
    expect(eventIds).not.toContain(repeat.payload.event_id);
    expect(eventIds).toHaveLength(2);
  });

  it('publishes the same desired value under a new version again (a second tare), and a property coming back', async () => {
    await startEdge();
    await update({ setpoint: { actual: { value: '21.5' } }, heater: { actual: { value: 'false' } } });
    await update({ heater: { expected: { value: 'true' } } });
    await update({ heater: { expected: { value: 'true' } } });
    await update({ heater: { actual: { value: 'true' } } }); // the delta empties: nothing to publish
    await update({ setpoint: { actual: { value: '22' } } }); // setpoint's desired 21.5 comes back into it
    await update({ setpoint: { actual: { value: '22' } } });
    await update({ setpoint: { expected: { value: '30' } } });
    const deltas = (await deltaMessagesUntil('setpoint', '30')).map((m) => {
      const twin = m.payload.twin as Twins;
      return [m.payload.delta, twin.heater?.expected_version?.edge, twin.setpoint?.expected_version?.edge];
    });
    expect(deltas).toEqual([
      [{ heater: 'true' }, 2, 1],
      [{ heater: 'true' }, 3, 1],
      [{ setpoint: '21.5' }, 3, 1],
      [{ setpoint: '30' }, 3, 2],
    ]);
  });

  it('compares values by type: a FLOAT reported "24.0" holds a desired "24"', async () => {
    await startEdge();
    await update({ setpoint: { expected: { value: '24' } }, heater: { actual: { value: 'false' } } });
    await update({ setpoint: { actual: { value: '24.0' } } });
    await update({ setpoint: { actual: { value: '24.00' } } });
    expect((await device()).delta).toEqual({});
    await update({ heater: { expected: { value: 'true' } } });
    expect(await deltasUntil('heater', 'true')).toEqual([{ setpoint: '24' }, { heater: 'true' }]);
  });

  it('publishes the standing delta once after a restart, at the first update', async () => {
    await startEdge();
    await update({ setpoint: { expected: { value: '23.55' }, actual: { value: '23.5' } } });
    await edge!.stop();
    await watch!.close();
    await startEdge({ again: true });
    await update({ temperature: { actual: { value: '20.1' } }, heater: { actual: { value: 'false' } } });
    await update({ temperature: { actual: { value: '20.2' } } });
    await update({ setpoint: { expected: { value: '30' } } });
    expect(await deltasUntil('setpoint', '30')).toEqual([{ setpoint: '23.55' }, { setpoint: '30' }]);
  });

  it('keeps the reason of a reported value, shows it, and clears it with the next report without one', async () => {
    await startEdge();
    const held = { value: '23.5', metadata: { reason: 'the register holds tenths' } };
    const result = await update({ setpoint: { actual: held } });
    expect((result.payload.twin as Twins).setpoint?.actual?.metadata?.reason).toBe(
      'the register holds tenths',
    );
    expect((await device()).twins.setpoint?.reported).toMatchObject({
      value: '23.5',
      reason: 'the register holds tenths',
    });
    await watch!.client.publishAsync(topic('twin/get'), JSON.stringify({ event_id: 'get-1', timestamp: 0 }));
    const got = await watch!.next(
      (m) => m.topic === topic('twin/get/result') && m.payload.event_id === 'get-1',
    );
    expect((got.payload.twin as Twins).setpoint?.actual).toEqual({
      value: '23.5',
      metadata: { timestamp: expect.any(Number), reason: 'the register holds tenths' },
    });

    await update({ setpoint: { actual: { value: '23.5', metadata: { reason: 'r'.repeat(10_000) } } } });
    expect((await device()).twins.setpoint?.reported?.reason).toHaveLength(256);
    await update({ setpoint: { actual: { value: '23.5' } } });
    expect((await device()).twins.setpoint?.reported).not.toHaveProperty('reason');
  });

  it('takes reports that nobody hears back as update() would: every version, reason and history point, across a restart', async () => {
    await startEdge(); // watched: the thermostat's topics, not the scale's
    const reporter = await mqtt.connectAsync(edge!.brokerUrl, { protocolVersion: 4 });
    try {
      const report = (twin: Record<string, unknown>) =>
        reporter.publishAsync(
          scaleTopic('twin/update'),
          JSON.stringify({ event_id: randomUUID(), timestamp: Date.now(), twin }),
          { qos: 1 },
        );
      const before = edge!.twinModule!.twins(SCALE_ID)!;
      // The first report takes tare's standing delta (desired "false") away; from then on, only reports.
      await report({ tare: { actual: { value: 'false' } } });
      const weights = Array.from({ length: 30 }, (_, i) => (i / 4).toFixed(2));
      for (const [i, value] of weights.entries())
        await report({
          weight: { actual: i % 5 === 4 ? { value, metadata: { reason: 'rounded' } } : { value } },
          tare: { actual: { value: 'false' } },
        });
      // A bad value among them is refused, as ever, and changes nothing.
      await report({ weight: { actual: { value: 'heavy' } } });
      // On the same connection, so answered after every report before it was applied.
      await reporter.subscribeAsync(scaleTopic('twin/get/result'), { qos: 1 });
      const answered = new Promise<Twins>((resolve) =>
        reporter.once('message', (_topic, payload) => resolve(JSON.parse(payload.toString()).twin)),
      );
      await reporter.publishAsync(
        scaleTopic('twin/get'),
        JSON.stringify({ event_id: 'get-1', timestamp: 0 }),
      );
      const got = (await answered) as Record<string, Record<string, unknown>>;
      expect(got.weight).toMatchObject({
        actual: { value: '7.25', metadata: { timestamp: expect.any(Number), reason: 'rounded' } },
        actual_version: { cloud: 0, edge: 30 },
      });
      expect(got.tare).toMatchObject({ actual: { value: 'false' }, actual_version: { cloud: 0, edge: 31 } });
      // What twins() handed out before is a copy: the reports did not write into it.
      expect(before.weight?.actual).toBeUndefined();

      await reporter.endAsync();
      await edge!.stop();
      await startEdge({ again: true });
      const stored = edge!.twinModule!.twins(SCALE_ID)!;
      expect(stored.weight).toEqual(got.weight);
      expect(stored.tare).toEqual(got.tare);
      const history = (await (
        await fetch(`${edge!.httpUrl}/api/v1/devices/${SCALE_ID}/twins/weight/history`)
      ).json()) as { points: { v: string }[] };
      expect(history.points.map((p) => p.v)).toEqual(weights);
    } finally {
      await reporter.endAsync();
    }
  });

  it('refuses a desired value above the maximum with 400, never makes it desired nor a delta', async () => {
    await startEdge();
    const refused = await update({ setpoint: { expected: { value: '999' } } });
    expect(refused.payload).toMatchObject({
      code: 400,
      reason: expect.stringMatching(/setpoint.*maximum 35/),
    });
    expect((await device()).twins.setpoint?.desired).toMatchObject({ value: '21.5' });
    await update({ setpoint: { expected: { value: '25' } } });
    expect(await deltasUntil('setpoint', '25')).toEqual([{ setpoint: '25', heater: 'false' }]);
  });

  const brokers: [string, string | undefined][] = [['the embedded broker', undefined]];
  if (process.env.MQTT_URL) brokers.push([process.env.MQTT_URL, process.env.MQTT_URL]);
  it.each(brokers)(
    'answers EventBus.getTwins on %s: the twins with their versions, undefined for no device',
    async (_, external) => {
      await startEdge(external ? { external } : {});
      await update({ setpoint: { expected: { value: '26' } } });
      const bus = await EventBus.connect(edge!.brokerUrl);
      try {
        const twins = (await bus.getTwins(ID)) as Twins;
        expect(twins.setpoint).toMatchObject({
          expected: { value: '26' },
          expected_version: { cloud: 0, edge: 2 },
        });
        expect(Object.keys(twins).sort()).toEqual(['heater', 'setpoint', 'temperature']);
        expect(await bus.getTwins(`default/${NAME}-ghost`)).toBeUndefined();
      } finally {
        await bus.close();
      }
    },
  );

  describe('KubeEdge’s payloads', () => {
    /** Publishes a payload as it is (no event_id, timestamp or anything else added). */
    const publish = (to: string, payload: unknown) =>
      watch!.client.publishAsync(to, JSON.stringify(payload), { qos: 1 });
    const resultOf = (property: string, value: string) => (m: WatchedMessage) =>
      m.topic === topic('twin/update/result') &&
      (m.payload.twin as Twins | undefined)?.[property]?.actual?.value === value;

    it('takes twin/update and twin/get without event_id or timestamp, echoing "" as KubeEdge does', async () => {
      await startEdge();
      // mappers-go's CreateMessageTwinUpdate: `"event_id": ""`, an empty actual metadata.
      await publish(topic('twin/update'), {
        event_id: '',
        timestamp: Date.now(),
        twin: { temperature: { actual: { value: '21.5', metadata: {} }, metadata: { type: 'float' } } },
      });
      const fromMapper = await watch!.next(resultOf('temperature', '21.5'));
      expect(fromMapper.payload).toMatchObject({ event_id: '', timestamp: expect.any(Number) });
      expect(fromMapper.payload).not.toHaveProperty('code');
      // KubeEdge's led example: no event_id, no timestamp, a type KubeEdge ignores on a live twin.
      await publish(topic('twin/update'), {
        twin: { temperature: { actual: { value: '21.6' }, metadata: { type: 'Updated' } } },
      });
      expect((await watch!.next(resultOf('temperature', '21.6'))).payload).toMatchObject({ event_id: '' });

      await publish(topic('twin/get'), {});
      const got = await watch!.next((m) => m.topic === topic('twin/get/result'));
      expect(got.payload).toMatchObject({ event_id: '', timestamp: expect.any(Number) });
      const twins = got.payload.twin as Record<string, { metadata: { type: string } }>;
      expect(twins.temperature?.metadata).toEqual({ type: 'float' });
      for (const twin of Object.values(twins)) expect(TWIN_VALUE_TYPES).toContain(twin.metadata.type);

      // An error result carries the event_id too ("" for none), as KubeEdge's Result does.
      await watch!.subscribe('$hw/events/device/default/ghost/#');
      await publish('$hw/events/device/default/ghost/twin/update', {
        twin: { x: { actual: { value: '1' } } },
      });
      expect(
        (await watch!.next((m) => m.topic === '$hw/events/device/default/ghost/twin/update/result')).payload,
      ).toMatchObject({ event_id: '', code: 404 });
    });

    it('ignores versions on an edge update as KubeEdge does; if_expected_version opts in to a 409', async () => {
      await startEdge();
      const echoed = await update({
        setpoint: { expected: { value: '22' }, expected_version: { cloud: 0, edge: 0 } },
      });
      expect(echoed.payload).not.toHaveProperty('code');
      const version = (echoed.payload.twin as Twins).setpoint?.expected_version;
      expect(version).toEqual({ cloud: 0, edge: 2 });

      const stale = await update({
        setpoint: { expected: { value: '23' }, if_expected_version: { cloud: 0, edge: 1 } },
      });
      expect(stale.payload).toMatchObject({
        event_id: expect.any(String),
        code: 409,
        reason: expect.stringContaining('setpoint'),
      });
      const current = await update({ setpoint: { expected: { value: '24' }, if_expected_version: version } });
      expect((current.payload.twin as Twins).setpoint).toMatchObject({
        expected: { value: '24' },
        expected_version: { cloud: 0, edge: 3 },
      });
      expect(current.payload.twin).not.toHaveProperty('setpoint.if_expected_version');
      expect((await device()).twins.setpoint?.desired).toMatchObject({ value: '24' });
    });

    it('takes state/update in any case, as KubeEdge’s mappers send it, and keeps it lower case', async () => {
      await startEdge();
      const stateResult = (state: string) => (m: WatchedMessage) =>
        m.topic === topic('state/update/result') &&
        (m.payload.device as { state?: string } | undefined)?.state === state;
      // mappers-go's CreateMessageState.
      await publish(topic('state/update'), {
        event_id: '',
        timestamp: Date.now(),
        state: 'OK',
        attributes: null,
      });
      const ok = await watch!.next(stateResult('ok'));
      expect(ok.payload).toEqual({
        event_id: expect.stringMatching(/^[0-9a-f-]{36}$/), // a fresh one, as KubeEdge's BuildBaseMessage
        timestamp: expect.any(Number),
        device: { name: NAME, state: 'ok', last_online: expect.any(String) },
      });
      const api = await (await fetch(`${edge!.httpUrl}/api/v1/devices/${ID}`)).json();
      expect(api).toMatchObject({
        state: 'ok',
        lastOnlineTime: (ok.payload.device as { last_online: string }).last_online,
      });

      await publish(topic('state/update'), { state: 'DISCONNECTED' });
      const gone = await watch!.next(stateResult('disconnected'));
      expect(gone.payload.device).toMatchObject({
        last_online: (ok.payload.device as { last_online: string }).last_online,
      });

      await publish(topic('state/update'), { event_id: 'broken', state: 'ERROR' });
      expect(
        (
          await watch!.next(
            (m) => m.topic === topic('state/update/result') && m.payload.event_id === 'broken',
          )
        ).payload,
      ).toMatchObject({ code: 400, reason: expect.stringContaining('disconnected') });
    });

    it('types twins from KubeEdge’s set with the finer model type beside, and deltas carry the twins with an expected value', async () => {
      await startEdge();
      await watch!.subscribe(`$hw/events/device/${SCALE_ID}/#`);
      await publish(scaleTopic('twin/get'), { event_id: 'scale' });
      const got = await watch!.next((m) => m.topic === scaleTopic('twin/get/result'));
      const types = Object.fromEntries(
        Object.entries(got.payload.twin as Record<string, { metadata: unknown }>).map(([k, t]) => [
          k,
          t.metadata,
        ]),
      );
      expect(types).toEqual({
        weight: { type: 'float', modelType: 'DOUBLE' },
        photo: { type: 'string', modelType: 'BYTES' },
        tare: { type: 'boolean' },
      });
      const view = (await (await fetch(`${edge!.httpUrl}/api/v1/devices/${SCALE_ID}`)).json()) as {
        twins: Record<string, unknown>;
      };
      expect(view.twins.weight).toMatchObject({ type: 'float', modelType: 'DOUBLE' });

      // An older edgetwin mapper's (and mappers-go's) `double` is taken; the twin keeps its type.
      await publish(scaleTopic('twin/update'), {
        event_id: 'weigh',
        twin: { weight: { actual: { value: '1.25' }, metadata: { type: 'double' } } },
      });
      const weighed = await watch!.next((m) => m.topic === scaleTopic('twin/update/result'));
      expect(weighed.payload).toMatchObject({
        event_id: 'weigh',
        twin: { weight: { actual: { value: '1.25' }, metadata: { type: 'float', modelType: 'DOUBLE' } } },
      });

      await publish(scaleTopic('twin/update'), {
        event_id: 'tare',
        twin: { tare: { expected: { value: 'true' } } },
      });
      const delta = await watch!.next(
        (m) =>
          m.topic === scaleTopic('twin/update/delta') &&
          (m.payload.delta as Record<string, string>).tare === 'true',
      );
      expect(Object.keys(delta.payload.twin as object)).toEqual(['tare']); // weight and photo have no expected
      expect(delta.payload.event_id).not.toBe('tare'); // a fresh one, as KubeEdge's BuildBaseMessage
    });

    it('lists membership/get/result devices as KubeEdge does: no twins, the description label', async () => {
      await startEdge();
      await watch!.subscribe('$hw/events/node/+/membership/get/result');
      await publish('$hw/events/node/edge-node-1/membership/get', {});
      const { payload } = await watch!.next((m) => m.topic.endsWith('/membership/get/result'));
      expect(payload).toMatchObject({ event_id: '', timestamp: expect.any(Number) });
      const devices = payload.devices as Record<string, unknown>[];
      expect(devices.find((d) => d.id === ID)).toEqual({ id: ID, name: NAME, state: 'unknown' });
      expect(devices.find((d) => d.id === SCALE_ID)).toEqual({
        id: SCALE_ID,
        name: SCALE,
        description: 'bench-scale',
        state: 'unknown',
      });
    });

    it('publishes twin/cloud_updated when the cloud changes a twin, and no update/result', async () => {
      await startEdge();
      const before = edge!.twinModule!.twins(ID)!.setpoint!.expected_version!;
      let resultForCloud = false;
      void watch!.next((m) => {
        if (
          m.topic === topic('twin/update/result') &&
          (m.payload.twin as Twins)?.setpoint?.expected?.value === '25'
        )
          resultForCloud = true;
        return false;
      });
      const cloudVersion = { cloud: before.cloud + 1, edge: before.edge };
      await edge!.twinModule!.update(
        ID,
        { setpoint: { expected: { value: '25' }, expected_version: cloudVersion } },
        'cloud',
      );
      const synced = await watch!.next((m) => m.topic === topic('twin/cloud_updated'));
      expect(synced.payload).toEqual({
        event_id: expect.any(String),
        timestamp: expect.any(Number),
        twin: {
          setpoint: {
            expected: { value: '25', metadata: { timestamp: expect.any(Number) } },
            expected_version: cloudVersion,
            optional: false,
            metadata: { type: 'float' },
          },
        },
      });
      await update({ heater: { actual: { value: 'true' } } }); // published after anything the sync published
      expect(resultForCloud).toBe(false);
    });
  });
});
