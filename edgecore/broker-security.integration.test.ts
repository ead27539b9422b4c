import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ModbusSimulator } from '../mappers/modbus/simulator.js';
import { watchTopics } from '../sdk/testing/index.js';
import { appUrl, mapperUrl } from '../test/support/edge-broker.js';
import { type ThermostatDir, thermostatDir } from '../test/support/thermostat-dir.js';
import { BROKER_CREDENTIALS_FILE } from './broker-credentials.js';
import { edgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';

/** edgecore's EventBus secure by default: credentials, the ACL in front of a real PLC (simulator), open mode. */

const ID = 'default/thermostat-01';
const topic = (suffix: string) => `$hw/events/device/${ID}/${suffix}`;
const update = (eventId: string, twin: Record<string, unknown>) =>
  JSON.stringify({ event_id: eventId, timestamp: Date.now(), twin });

describe('edgecore EventBus security', () => {
  let dir: string;
  let simulator: ModbusSimulator;
  let edge: EdgeCore | undefined;

  let fixture: ThermostatDir;

  beforeAll(async () => {
    fixture = await thermostatDir('edgecore-security-');
    ({ dir, simulator } = fixture);
  });
  afterEach(async () => {
    await edge?.stop();
    edge = undefined;
  });
  afterAll(() => fixture.remove());

  async function startEdge(internal: Record<string, unknown> = {}) {
    edge = new EdgeCore({
      config: edgeConfig({
        dataDir: join(dir, 'data'),
        eventBus: { internal: { port: 0, ...internal } },
        http: { port: 0 },
        devices: { dirs: [dir], watch: false },
      }),
    });
    await edge.start();
    return edge;
  }
  const connect = (url: string, options: mqtt.IClientOptions = {}) =>
    mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, ...options });

  it('makes its credentials once (mode 0600), keeps them across restarts, and refuses clients without them', async () => {
    await startEdge();
    const file = join(dir, 'data', BROKER_CREDENTIALS_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const before = edge!.brokerCredentials!.mapper('modbus').password;
    const app = edge!.brokerCredentials!.apps()[0]!;
    expect(app).toMatchObject({ username: 'app', role: { kind: 'readwrite' } });
    expect(before).toMatch(/^[A-Za-z0-9_-]{32}$/);
    await expect(connect(edge!.brokerUrl)).rejects.toMatchObject({ code: 5 });
    await expect(
      connect(edge!.brokerUrl, { username: 'app', password: `${app.password}x` }),
    ).rejects.toMatchObject({ code: 4 });
    await edge!.stop();
    const content = await readFile(file, 'utf8');
    await startEdge();
    expect(await readFile(file, 'utf8')).toBe(content);
    expect(edge!.brokerCredentials!.mapper('modbus').password).toBe(before);
    const client = await connect(appUrl(edge!));
    await client.endAsync();
  });

  it('never lets a forged delta reach the device, from an app or from a mapper', async () => {
    await startEdge();
    const watch = await watchTopics(appUrl(edge!));
    const app = await connect(appUrl(edge!));
    const mapper = await connect(mapperUrl(edge!, 'modbus'));
    try {
      await watch.next((m) => m.topic === topic('state/update') && m.payload.state === 'online');
      const forged = JSON.stringify({ event_id: 'f', timestamp: 0, twin: {}, delta: { setpoint: '29' } });
      await app.publishAsync(topic('twin/update/delta'), forged, { qos: 1 });
      await mapper.publishAsync(topic('twin/update/delta'), forged, { qos: 1 });
      // Then a desired value through the front door: it is written, the forged one never was.
      await app.publishAsync(topic('twin/update'), update('d', { setpoint: { expected: { value: '23' } } }), {
        qos: 1,
      });
      await watch.next((m) => {
        const twin = m.payload.twin as Record<string, { actual?: { value?: string } }> | undefined;
        return m.topic === topic('twin/update/result') && twin?.setpoint?.actual?.value === '23';
      });
      expect(simulator.written('setpoint')).toBeCloseTo(23, 5);
      // The watcher reads every topic: a forged delta the broker let through would have reached it first.
      // (`next` looks through what was seen at once: this collects every delta so far.)
      const deltas: unknown[] = [];
      void watch.next((m) => {
        if (m.topic === topic('twin/update/delta')) deltas.push(m.payload.delta);
        return false;
      });
      expect(deltas).toContainEqual({ setpoint: '23' });
      expect(deltas).not.toContainEqual({ setpoint: '29' });
      expect(mapper.connected && app.connected).toBe(true);
    } finally {
      await Promise.all([app.endAsync(), mapper.endAsync(), watch.close()]);
    }
  });

  it("lets the modbus mapper's credentials report its own device, not another protocol's", async () => {
    await startEdge();
    const watch = await watchTopics(appUrl(edge!), `${topic('twin/update/result')}`);
    const opcua = await connect(mapperUrl(edge!, 'opcua'));
    const modbus = await connect(mapperUrl(edge!, 'modbus'));
    try {
      const report = (id: string) => update(id, { temperature: { actual: { value: '30.5' } } });
      await opcua.publishAsync(topic('twin/update'), report('not-mine'), { qos: 1 });
      await modbus.publishAsync(topic('twin/update'), report('mine'), { qos: 1 });
      await watch.next((m) => m.payload.event_id === 'mine');
      // Results go out in the order updates arrive: had the opcua one got in, its result came first.
      const results: unknown[] = [];
      void watch.next((m) => {
        results.push(m.payload.event_id);
        return false;
      });
      expect(results).toContain('mine');
      expect(results).not.toContain('not-mine');
    } finally {
      await Promise.all([opcua.endAsync(), modbus.endAsync(), watch.close()]);
    }
  });

  it("cannot be pushed off the broker by a client taking edgecore's client id", async () => {
    await startEdge();
    const watch = await watchTopics(appUrl(edge!), topic('twin/get/result'));
    // edgecore's own bus is in-process: it has no MQTT client id, so this one takes nobody's place.
    const intruder = await connect(appUrl(edge!), { clientId: `edgecore-edge-node-1-${process.pid}` });
    try {
      await intruder.publishAsync(topic('twin/get'), JSON.stringify({ event_id: 'still-there' }), { qos: 1 });
      await watch.next((m) => m.payload.event_id === 'still-there');
      // And an external mapper's id is not takeable with other credentials.
      const mapper = await connect(mapperUrl(edge!, 'modbus'), { clientId: 'modbus-mapper' });
      await expect(connect(appUrl(edge!), { clientId: 'modbus-mapper' })).rejects.toMatchObject({ code: 2 });
      expect(mapper.connected).toBe(true);
      await mapper.endAsync();
    } finally {
      await Promise.all([intruder.endAsync(), watch.close()]);
    }
  });

  it('with auth: none, takes anonymous KubeEdge-style clients, who still cannot forge a delta', async () => {
    await startEdge({ auth: 'none' });
    expect(edge!.brokerCredentials).toBeUndefined();
    const watch = await watchTopics(edge!.brokerUrl, topic('twin/update/delta'));
    const client = await connect(edge!.brokerUrl);
    try {
      await client.publishAsync(topic('twin/update/delta'), JSON.stringify({ delta: { setpoint: '28' } }), {
        qos: 1,
      });
      await client.publishAsync(
        topic('twin/update'),
        update('open', { setpoint: { expected: { value: '22' } } }),
        {
          qos: 1,
        },
      );
      const delta = await watch.next(() => true);
      expect(delta.payload).toMatchObject({ delta: { setpoint: '22' } });
    } finally {
      await Promise.all([client.endAsync(), watch.close()]);
    }
  });
});
