import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedBroker, startEmbeddedBroker } from '../sdk/index.js';
import { type TopicWatcher, type WatchedMessage, watchTopics } from '../sdk/testing/index.js';
import { edgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';
import { MAX_TWINS_PER_DEVICE } from './twin-module.js';

/**
 * Every message on `$hw/events` is answered, whatever it is, and nothing a stranger sends can break a device
 * or hold up the HTTP API: topics with an empty level, bad membership/get payloads, payloads nesting
 * thousands of levels, more twins than a device may have, a burst of state/update, a PUT with the broker gone.
 */

const sample = new URL('../device-models/samples/modbus-tcp-thermostat.yaml', import.meta.url).pathname;
const NAME = `thermostat-${randomUUID().slice(0, 8)}`;
const ID = `default/${NAME}`;
const topic = (suffix: string) => `$hw/events/device/${ID}/${suffix}`;

describe('twin module bounds', () => {
  let dir: string;
  let edge: EdgeCore | undefined;
  let watch: TopicWatcher | undefined;
  let broker: EmbeddedBroker | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twin-bounds-'));
    await writeFile(
      join(dir, 'thermostat.yaml'),
      (await readFile(sample, 'utf8')).replaceAll('thermostat-01', NAME),
    );
  });
  afterEach(async () => {
    await watch?.close();
    watch = undefined;
    await edge?.stop();
    edge = undefined;
    await broker?.stop();
    broker = undefined;
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function startEdge(eventBus: unknown = { internal: { port: 0, auth: 'none' } }) {
    edge = new EdgeCore({
      config: edgeConfig({
        dataDir: join(dir, `data-${randomUUID().slice(0, 8)}`),
        eventBus,
        http: { port: 0 },
        devices: { dirs: [dir], watch: false },
        mappers: { inProcess: false },
      }),
    });
    await edge.start();
    watch = await watchTopics(edge.brokerUrl, '$hw/events/#');
    return watch;
  }
  const publish = (to: string, payload: unknown) =>
    watch!.client.publishAsync(to, typeof payload === 'string' ? payload : JSON.stringify(payload), {
      qos: 1,
    });
  const answerOn = (to: string, eventId?: string) =>
    watch!.next(
      (m: WatchedMessage) => m.topic === to && (eventId === undefined || m.payload.event_id === eventId),
    );

  it('answers a device topic with an empty level with 400 beside it, on every device topic', async () => {
    await startEdge();
    for (const suffix of ['twin/update', 'twin/get', 'state/update']) {
      const bad = `$hw/events/device/default//${suffix}`;
      const payload =
        suffix === 'twin/update'
          ? { event_id: suffix, twin: { x: { actual: { value: '1' } } } }
          : suffix === 'state/update'
            ? { event_id: suffix, state: 'online' }
            : { event_id: suffix };
      await publish(bad, payload);
      expect((await answerOn(`${bad}/result`, suffix)).payload).toMatchObject({ code: 400 });
    }
    // And the edge goes on answering.
    await publish(topic('twin/get'), { event_id: 'after' });
    expect((await answerOn(topic('twin/get/result'), 'after')).payload).toHaveProperty('twin');
  });

  it('answers a bad membership/get payload with 400', async () => {
    await startEdge();
    const get = '$hw/events/node/edge-node-1/membership/get';
    await publish(get, 'not json');
    expect((await answerOn(`${get}/result`)).payload).toMatchObject({ code: 400, event_id: '' });
    await publish(get, { event_id: 7 });
    expect((await answerOn(`${get}/result`)).payload).toMatchObject({ code: 400 });
  });

  it('refuses a payload nesting thousands of levels with 400; the device keeps answering GET and twin/get', async () => {
    await startEdge();
    let metadata: unknown = { type: 'string' };
    for (let i = 0; i < 3400; i++) metadata = { a: metadata };
    await publish(topic('twin/update'), {
      event_id: 'deep',
      twin: { deep: { actual: { value: '1' }, metadata } },
    });
    expect((await answerOn(topic('twin/update/result'), 'deep')).payload).toMatchObject({
      code: 400,
      reason: expect.stringMatching(/deeper than 32/),
    });
    expect((await fetch(`${edge!.httpUrl}/api/v1/devices/${ID}`)).status).toBe(200);
    await publish(topic('twin/get'), { event_id: 'get' });
    expect((await answerOn(topic('twin/get/result'), 'get')).payload.twin).not.toHaveProperty('deep');
  });

  it(`refuses twins beyond ${MAX_TWINS_PER_DEVICE} per device with 400, keeping the device's twins`, async () => {
    await startEdge();
    const many = Object.fromEntries(
      Array.from({ length: MAX_TWINS_PER_DEVICE }, (_, i) => [`extra${i}`, { actual: { value: String(i) } }]),
    );
    await publish(topic('twin/update'), { event_id: 'many', twin: many });
    expect((await answerOn(topic('twin/update/result'), 'many')).payload).toMatchObject({
      code: 400,
      reason: expect.stringMatching(/at most 1024 twins/),
    });
    const view = (await (await fetch(`${edge!.httpUrl}/api/v1/devices/${ID}`)).json()) as {
      twins: Record<string, unknown>;
    };
    expect(Object.keys(view.twins)).toEqual(expect.arrayContaining(['setpoint', 'temperature']));
    expect(view.twins).not.toHaveProperty('extra0');
  });

  it('answers every state/update of a burst of 5,000 (none dropped)', async () => {
    await startEdge();
    const results: unknown[] = [];
    watch!.client.on('message', (to, payload) => {
      if (to === topic('state/update/result')) results.push(JSON.parse(payload.toString()));
    });
    const N = 5000;
    await Promise.all(
      Array.from({ length: N }, (_, i) =>
        publish(topic('state/update'), { event_id: `s${i}`, state: i % 2 ? 'online' : 'offline' }),
      ),
    );
    await answerOn(topic('state/update/result'), `s${N - 1}`);
    // Results go out in order, so the last one's arrival means the others have.
    expect(results).toHaveLength(N);
    expect(results.filter((r) => (r as { code?: number }).code !== undefined)).toEqual([]);
  }, 30_000);

  it('answers a PUT of a desired value once it is stored, with the external broker gone', async () => {
    broker = await startEmbeddedBroker({ port: 0 });
    await startEdge({ mode: 'external', external: { url: broker.url } });
    await watch!.close();
    watch = undefined;
    await broker.stop();
    broker = undefined;
    const put = await fetch(`${edge!.httpUrl}/api/v1/devices/${ID}/twins/setpoint/desired`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: '23' }),
    });
    expect(put.status).toBe(200);
    const view = (await (await fetch(`${edge!.httpUrl}/api/v1/devices/${ID}`)).json()) as {
      twins: { setpoint: { desired: { value: string } } };
    };
    expect(view.twins.setpoint.desired.value).toBe('23');
  });
});
