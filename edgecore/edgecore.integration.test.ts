import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ModbusSimulator } from '../mappers/modbus/simulator.js';
import { startEmbeddedBroker } from '../sdk/index.js';
import { watchTopics } from '../sdk/testing/index.js';
import { appUrl } from '../test/support/edge-broker.js';
import { type ThermostatDir, thermostatDir } from '../test/support/thermostat-dir.js';
import { edgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';

/** edgecore in-process with everything real: aedes on port 0, SQLite file, the Modbus simulator, HTTP on port 0. */

const bleSample = new URL('../device-models/samples/ble-thermometer.yaml', import.meta.url).pathname;
const ID = 'default/thermostat-01';

const watcher = (url: string) => watchTopics(url);

describe('edgecore', () => {
  let dir: string;
  let simulator: ModbusSimulator;
  let edge: EdgeCore | undefined;

  let fixture: ThermostatDir;

  beforeAll(async () => {
    fixture = await thermostatDir('edgecore-');
    ({ dir, simulator } = fixture);
  });
  afterEach(async () => {
    await edge?.stop();
    edge = undefined;
  });
  afterAll(() => fixture.remove());

  async function startEdge(extra: Record<string, unknown> = {}) {
    const config = edgeConfig({
      dataDir: join(dir, 'data'),
      eventBus: { internal: { port: 0 } },
      http: { port: 0 },
      devices: { dirs: [dir], watch: false },
      ...extra,
    });
    edge = new EdgeCore({ config });
    await edge.start();
    return edge;
  }

  const api = (path: string, init?: RequestInit) => fetch(`${edge!.httpUrl}${path}`, init);
  const put = (property: string, value: string, headers: Record<string, string> = {}) =>
    api(`/api/v1/devices/default/thermostat-01/twins/${property}/desired`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ value }),
    });

  it('takes a desired value over HTTP to the Modbus register, reports it back, and the delta empties', async () => {
    await startEdge();
    const watch = await watcher(appUrl(edge!));
    try {
      const response = await put('setpoint', '24');
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ property: 'setpoint', desired: { value: '24' } });
      await watch.next(
        (m) =>
          m.topic === `$hw/events/device/${ID}/twin/update/delta` &&
          (m.payload.delta as Record<string, string>).setpoint === '24',
      );
      await watch.next((m) => {
        const twin = m.payload.twin as Record<string, { actual?: { value?: string } }> | undefined;
        return (
          m.topic === `$hw/events/device/${ID}/twin/update/result` && twin?.setpoint?.actual?.value === '24'
        );
      });
      expect(simulator.written('setpoint')).toBeCloseTo(24, 5);
      const device = (await (await api(`/api/v1/devices/${ID}`)).json()) as {
        twins: Record<string, { desired: { value: string }; reported: { value: string } }>;
        delta: Record<string, string>;
        state: string;
      };
      expect(device.twins.setpoint).toMatchObject({ desired: { value: '24' }, reported: { value: '24' } });
      expect(device.state).toBe('online');
      expect(device.delta).not.toHaveProperty('setpoint');
    } finally {
      await watch.close();
    }
  });

  it('writes a desired value the register cannot hold once, reports what it holds with a reason, and never writes a refused one', async () => {
    await startEdge();
    const watch = await watcher(appUrl(edge!));
    const writes = () => simulator.requests.filter((r) => (r.fc === 6 || r.fc === 16) && r.address === 0);
    try {
      await watch.next(
        (m) => m.topic === `$hw/events/device/${ID}/state/update` && m.payload.state === 'online',
      );
      const before = writes().length;
      const desire = async (value: string, eventId: string) => {
        await watch.client.publishAsync(
          `$hw/events/device/${ID}/twin/update`,
          JSON.stringify({
            event_id: eventId,
            timestamp: Date.now(),
            twin: { setpoint: { expected: { value } } },
          }),
          { qos: 1 },
        );
        return watch.next(
          (m) => m.topic === `$hw/events/device/${ID}/twin/update/result` && m.payload.event_id === eventId,
        );
      };
      // 23.55 on a register of tenths (scale 0.1): the device holds 23.5 or 23.6, never 23.55.
      expect((await desire('23.55', 'tenths')).payload).not.toHaveProperty('code');
      const held = await watch.next((m) => {
        const twin = m.payload.twin as Record<
          string,
          { actual?: { value?: string; metadata?: { reason?: string } } }
        >;
        return (
          m.topic === `$hw/events/device/${ID}/twin/update` &&
          twin?.setpoint?.actual?.metadata?.reason !== undefined
        );
      });
      const setpoint = (
        held.payload.twin as Record<string, { actual: { value: string; metadata: { reason: string } } }>
      ).setpoint!;
      expect(['23.5', '23.6']).toContain(setpoint.actual.value);
      expect(setpoint.actual.metadata.reason).toContain('23.55');
      expect(Number(setpoint.actual.value)).toBeCloseTo(simulator.written('setpoint') as number, 5);
      // Five more report cycles of the mapper: the delta stands, and the register is not written again.
      for (let i = 0; i < 5; i++) {
        watch.clear();
        await watch.next((m) => {
          const twin = m.payload.twin as Record<string, { actual?: unknown }> | undefined;
          return m.topic === `$hw/events/device/${ID}/twin/update` && twin?.setpoint?.actual !== undefined;
        });
      }
      expect(writes().length - before).toBe(1);
      const device = (await (await api(`/api/v1/devices/${ID}`)).json()) as {
        twins: Record<string, { reported: { value: string; reason?: string } }>;
        delta: Record<string, string>;
      };
      expect(device.delta.setpoint).toBe('23.55');
      expect(device.twins.setpoint!.reported.reason).toContain('23.55');

      // Out of the model's range over MQTT: a result code, and it never reaches the register.
      expect((await desire('999', 'too-high')).payload).toMatchObject({
        code: 400,
        reason: expect.stringContaining('35'),
      });
      expect((await desire('24', 'fits')).payload).not.toHaveProperty('code');
      await watch.next((m) => {
        const twin = m.payload.twin as Record<string, { actual?: { value?: string } }> | undefined;
        return (
          m.topic === `$hw/events/device/${ID}/twin/update/result` && twin?.setpoint?.actual?.value === '24'
        );
      });
      expect(writes().length - before).toBe(2);
      expect(simulator.written('setpoint')).toBeCloseTo(24, 5);
    } finally {
      await watch.close();
    }
  });

  it('answers bad desired values, stale versions and unknown names with the right status', async () => {
    await startEdge();
    const current = (await (await api(`/api/v1/devices/${ID}`)).json()) as {
      twins: Record<string, { desired: { version: string } }>;
    };
    const version = current.twins.setpoint!.desired.version;
    expect((await put('setpoint', '99')).status).toBe(400);
    expect(await (await put('setpoint', 'warm')).json()).toMatchObject({
      code: 400,
      reason: expect.stringContaining('setpoint'),
    });
    expect((await put('temperature', '20')).status).toBe(400);
    expect((await put('nosuch', '1')).status).toBe(404);
    expect((await api('/api/v1/devices/default/nosuch')).status).toBe(404);
    expect((await put('setpoint', '22', { 'if-match': `"${version}"` })).status).toBe(200);
    expect((await put('setpoint', '23', { 'if-match': `"${version}"` })).status).toBe(409);
    expect((await api('/healthz')).status).toBe(200);
  });

  it('answers malformed MQTT payloads and unknown devices with a result code and stays up', async () => {
    await startEdge();
    const watch = await watcher(appUrl(edge!));
    try {
      await watch.client.publishAsync(`$hw/events/device/${ID}/twin/update`, '{not json');
      expect(
        (
          await watch.next(
            (m) => m.topic === `$hw/events/device/${ID}/twin/update/result` && m.payload.code !== undefined,
          )
        ).payload,
      ).toMatchObject({ code: 400 });
      watch.clear();
      await watch.client.publishAsync(
        `$hw/events/device/${ID}/twin/update`,
        JSON.stringify({
          event_id: 'x',
          timestamp: Date.now(),
          twin: { setpoint: { expected: { value: 7 } } },
        }),
      );
      expect(
        (
          await watch.next(
            (m) => m.topic === `$hw/events/device/${ID}/twin/update/result` && m.payload.code !== undefined,
          )
        ).payload,
      ).toMatchObject({ code: 400 });
      await watch.client.publishAsync(
        '$hw/events/device/default/ghost/twin/update',
        JSON.stringify({ event_id: 'g', timestamp: Date.now(), twin: { x: { actual: { value: '1' } } } }),
      );
      expect(
        (await watch.next((m) => m.topic === '$hw/events/device/default/ghost/twin/update/result')).payload,
      ).toMatchObject({ code: 404 });
      expect((await api('/healthz')).status).toBe(200);
    } finally {
      await watch.close();
    }
  });

  it('finds its twins again after a restart, and serves metrics', async () => {
    await startEdge();
    expect((await put('setpoint', '26.5')).status).toBe(200);
    await edge!.stop();
    await startEdge();
    const device = (await (await api(`/api/v1/devices/${ID}`)).json()) as {
      twins: Record<string, { desired: { value: string } }>;
    };
    expect(device.twins.setpoint!.desired.value).toBe('26.5');
    const metrics = await (await api('/metrics')).text();
    for (const name of [
      'edgetwin_twin_updates_total',
      'edgetwin_outbox_depth',
      'edgetwin_device_state',
      'edgetwin_mapper_errors_total',
      'edgetwin_twin_delta_properties',
    ])
      expect(metrics).toContain(name);
  });

  it('stores a report before its result when someone waits for it, and writes the others behind, committed at stop', async () => {
    await startEdge({ mappers: { inProcess: false }, twin: { writeBehindMs: 3_600_000 } });
    const file = join(dir, 'data', 'edgetwin.db');
    /** The temperature in the file, as another connection sees it. */
    const stored = () => {
      const db = new Database(file, { readonly: true });
      try {
        const row = db
          .prepare("SELECT actual FROM device_twin WHERE deviceid = ? AND name = 'temperature'")
          .get(ID) as { actual: string | null } | undefined;
        return row?.actual ?? null;
      } finally {
        db.close();
      }
    };
    const base = `$hw/events/device/${ID}/twin/update`;
    const documents = await watchTopics(appUrl(edge!), `${base}/document`);
    const client = await mqtt.connectAsync(appUrl(edge!), { protocolVersion: 4 });
    try {
      const before = stored();
      const report = (value: string) =>
        client.publishAsync(
          base,
          JSON.stringify({
            event_id: value,
            timestamp: Date.now(),
            twin: { temperature: { actual: { value } } },
          }),
          { qos: 1 },
        );
      const applied = (value: string) =>
        documents.next(
          (m) =>
            (m.payload.twin as Record<string, { current: { actual?: { value: string } } }>).temperature
              ?.current.actual?.value === value,
        );

      await report('20.5');
      await applied('20.5');
      expect(stored()).toBe(before); // nobody waits on its result: held

      await client.subscribeAsync(`${base}/result`, { qos: 1 });
      const result = new Promise<void>((resolve) =>
        client.on('message', (_topic, payload) => {
          if ((JSON.parse(payload.toString()) as { event_id: string }).event_id === '21.5') resolve();
        }),
      );
      await report('21.5');
      await result;
      expect(stored()).toBe('21.5'); // its result is the durable acknowledgement

      await client.unsubscribeAsync(`${base}/result`);
      await report('22.5');
      await applied('22.5');
      expect(stored()).toBe('21.5');
      await edge!.stop();
      expect(stored()).toBe('22.5');
    } finally {
      await client.endAsync();
      await documents.close();
    }
  });

  it('re-reads the devices directory on change and publishes membership/updated', async () => {
    await startEdge({ devices: { dirs: [dir], watch: true } });
    const watch = await watcher(appUrl(edge!));
    try {
      await writeFile(join(dir, 'ble.yaml'), await readFile(bleSample, 'utf8'));
      const { payload } = await watch.next((m) => m.topic.endsWith('/membership/updated'));
      expect(payload.added_devices).toEqual([
        expect.objectContaining({
          id: 'default/ble-thermometer-01',
          name: 'ble-thermometer-01',
          // KubeEdge's Device carries its twins: typed from the model, optional false
          twin: expect.objectContaining({
            temperature: expect.objectContaining({ optional: false, metadata: { type: 'float' } }),
          }),
        }),
      ]);
      expect(edge!.mapperHost!.runtimes.has('default/ble-thermometer-01')).toBe(true);
    } finally {
      await watch.close();
      await rm(join(dir, 'ble.yaml'));
    }
  });
  it('runs on an external broker (mode external), and on both brokers at once (mode both)', async () => {
    // MQTT_URL (mosquitto in CI) when set; otherwise a second broker started here plays the external one.
    const own = process.env.MQTT_URL ? undefined : await startEmbeddedBroker({ port: 0 });
    const external = process.env.MQTT_URL ?? own!.url;
    try {
      for (const mode of ['external', 'both'] as const) {
        await startEdge({ eventBus: { mode, internal: { port: 0 }, external: { url: external } } });
        const app = await watcher(external);
        try {
          const value = mode === 'external' ? '19' : '18.5';
          await app.client.publishAsync(
            `$hw/events/device/${ID}/twin/update`,
            JSON.stringify({
              event_id: mode,
              timestamp: Date.now(),
              twin: { setpoint: { expected: { value } } },
            }),
            { qos: 1 },
          );
          await app.next(
            (m) => m.topic === `$hw/events/device/${ID}/twin/update/result` && m.payload.event_id === mode,
          );
          await app.next((m) => {
            const twin = m.payload.twin as Record<string, { actual?: { value?: string } }> | undefined;
            return (
              m.topic === `$hw/events/device/${ID}/twin/update/result` &&
              twin?.setpoint?.actual?.value === value
            );
          });
          expect(simulator.written('setpoint')).toBeCloseTo(Number(value), 5);
        } finally {
          await app.close();
          await edge!.stop();
          edge = undefined;
        }
      }
    } finally {
      await own?.stop();
    }
  });

  it('refuses an invalid edge.yaml naming the field', () => {
    expect(() => edgeConfig({ http: { port: 'eighty' } })).toThrow(/http\.port: must be an integer/);
    expect(() => edgeConfig({ eventBus: { mode: 'shared' } })).toThrow(/eventBus\.mode/);
    expect(() => edgeConfig({ dataDirectory: 'x' })).toThrow(/dataDirectory: unknown field/);
  });
});
