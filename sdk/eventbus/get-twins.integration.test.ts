import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TWIN_REASON_MAX_LENGTH } from '../../device-models/eventbus.js';
import { startEmbeddedBroker } from '../broker/embedded-broker.js';
import { type Logger, silentLogger } from '../logger.js';
import { EventBus, EventBusRequestError } from './event-bus.js';
import { twinGet, twinGetResult, twinUpdate } from './topics.js';

/**
 * getTwins and reported reasons against a real broker: the embedded one, and MQTT_URL's when it is set. The
 * peer that answers `twin/get` here is a plain MQTT client playing any twin module, good or bad; the real
 * one (edgecore's) answers in edgecore/twin-module.integration.test.ts.
 */

interface Broker {
  url: string;
  stop(): Promise<void>;
}

const brokers: [string, () => Promise<Broker>][] = [
  ['embedded aedes broker', () => startEmbeddedBroker({ port: 0 })],
];
if (process.env.MQTT_URL)
  brokers.push([
    `external broker at ${process.env.MQTT_URL}`,
    async () => ({ url: process.env.MQTT_URL!, stop: async () => {} }),
  ]);

/** Timers alive now (the runner's own come and go, so callers compare with <=). */
const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

/** A logger that keeps every warning, to see which payloads the bus refused. */
function warnings(): { log: Logger; lines: (object | string)[] } {
  const lines: (object | string)[] = [];
  const log: Logger = {
    ...silentLogger,
    warn: (obj) => lines.push(obj),
    child: () => log,
  };
  return { log, lines };
}

/** A peer on `…/twin/get` that answers each request with `answer(event_id)` (one or more payloads, or none). */
async function twinModule(
  url: string,
  id: string,
  answer: (eventId: string) => object[],
): Promise<MqttClient> {
  const peer = await mqtt.connectAsync(url, { protocolVersion: 4 });
  peer.on('message', (_topic, payload) => {
    const { event_id } = JSON.parse(payload.toString()) as { event_id: string };
    for (const result of answer(event_id))
      void peer.publishAsync(twinGetResult(id), JSON.stringify({ timestamp: Date.now(), ...result }), {
        qos: 1,
      });
  });
  await peer.subscribeAsync(twinGet(id), { qos: 1 });
  return peer;
}

for (const [name, start] of brokers)
  describe(`EventBus.getTwins and reasons: ${name}`, () => {
    let broker: Broker;
    const cleanups: (() => Promise<unknown>)[] = [];
    // A device of its own per test: an external broker may be shared with other suites.
    let id: string;
    const connect = async (log?: Logger) => {
      const bus = await EventBus.connect(broker.url, log ? { log } : {});
      cleanups.push(() => bus.close());
      return bus;
    };
    const peer = async (answer: (eventId: string) => object[]) => {
      const client = await twinModule(broker.url, id, answer);
      cleanups.push(() => client.endAsync());
      return client;
    };

    beforeAll(async () => {
      broker = await start();
    });
    afterAll(() => broker.stop());
    beforeEach(() => {
      id = `get-twins/${randomUUID().slice(0, 8)}`;
    });
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it('resolves with the twin of the result echoing its event_id, ignoring results for other requests', async () => {
      const ours = { setpoint: { expected: { value: '23.55' }, expected_version: { cloud: 0, edge: 2 } } };
      await peer((eventId) => [
        { event_id: 'someone-else', twin: { setpoint: { expected: { value: '1' } } } },
        { event_id: eventId, twin: ours },
      ]);
      const bus = await connect();
      expect(await bus.getTwins(id)).toEqual(ours);
    });

    it.each<[string, object, Awaited<ReturnType<EventBus['getTwins']>>]>([
      ['a 404 (no such device) as undefined', { code: 404, reason: 'no device' }, undefined],
      ['a result without twins as no twins', {}, {}],
    ])('answers %s', async (_, result, expected) => {
      await peer((eventId) => [{ event_id: eventId, ...result }]);
      const bus = await connect();
      expect(await bus.getTwins(id)).toEqual(expected);
    });

    it('rejects on any other error result, with its code and reason', async () => {
      await peer((eventId) => [{ event_id: eventId, code: 503, reason: 'store unavailable' }]);
      const bus = await connect();
      const error = await bus.getTwins(id).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EventBusRequestError);
      expect(error).toMatchObject({
        code: 'EVENTBUS_REQUEST_FAILED',
        result: { code: 503, reason: 'store unavailable' },
        message: expect.stringContaining('503: store unavailable'),
      });
    });

    it('rejects after its timeout when nobody answers, and leaves no subscription or timer behind', async () => {
      const { log, lines } = warnings();
      const bus = await connect(log);
      const before = timers();
      const error = await bus.getTwins(id, 50).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EventBusRequestError);
      expect(error).toMatchObject({
        code: 'EVENTBUS_TIMEOUT',
        message: expect.stringContaining(`${id} within 50 ms`),
      });
      expect(timers()).toBeLessThanOrEqual(before);
      // A subscription left behind would refuse (and log) this payload. The marker after it, from the same
      // client, arrives after it: once it is here, the garbage has come and gone.
      let markerSeen!: () => void;
      const marker = new Promise<void>((resolve) => (markerSeen = resolve));
      await bus.subscribe(`${twinUpdate(id)}/marker`, Type.Unknown(), () => markerSeen());
      const other = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
      cleanups.push(() => other.endAsync());
      await other.publishAsync(twinGetResult(id), '{not json', { qos: 1 });
      await other.publishAsync(`${twinUpdate(id)}/marker`, '{}', { qos: 1 });
      await marker;
      expect(lines.filter((line) => JSON.stringify(line).includes('twin/get/result'))).toEqual([]);
    });

    it.each([
      ['while it subscribes', false],
      ['while it waits for the answer', true],
    ])('rejects a pending call when the bus closes %s, and refuses new ones', async (_, asked) => {
      let heard!: () => void;
      const request = new Promise<void>((resolve) => (heard = resolve));
      await peer(() => {
        heard();
        return [];
      });
      const bus = await EventBus.connect(broker.url);
      const before = timers();
      const pending = expect(bus.getTwins(id, 60_000)).rejects.toMatchObject({ code: 'EVENTBUS_CLOSED' });
      if (asked) await request;
      await bus.close();
      await pending;
      await expect(bus.getTwins(id)).rejects.toMatchObject({ code: 'EVENTBUS_CLOSED' });
      expect(timers()).toBeLessThanOrEqual(before);
    });

    it('serves concurrent calls for one device each with its own answer', async () => {
      let n = 0;
      await peer((eventId) => [{ event_id: eventId, twin: { n: { actual: { value: String(++n) } } } }]);
      const bus = await connect();
      const answers = await Promise.all([bus.getTwins(id), bus.getTwins(id), bus.getTwins(id)]);
      expect(answers.map((twins) => twins?.n?.actual?.value).sort()).toEqual(['1', '2', '3']);
    });

    it('reports a reason in actual.metadata.reason, cut to its maximum length, and none when not given', async () => {
      const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
      cleanups.push(() => watcher.endAsync());
      const seen = new Promise<Record<string, unknown>>((resolve) =>
        watcher.on('message', (_topic, payload) => resolve(JSON.parse(payload.toString()))),
      );
      await watcher.subscribeAsync(twinUpdate(id), { qos: 1 });
      const bus = await connect();
      await bus.reportActual(id, {
        setpoint: { value: '23.5', type: 'float', reason: 'the register holds tenths' },
        long: { value: 'x', type: 'string', reason: 'r'.repeat(1000) },
        plain: { value: '1', type: 'int' },
      });
      const { twin } = (await seen) as {
        twin: Record<string, { actual: { value: string; metadata: Record<string, unknown> } }>;
      };
      expect(twin.setpoint).toEqual({
        actual: {
          value: '23.5',
          metadata: { timestamp: expect.any(Number), reason: 'the register holds tenths' },
        },
        metadata: { type: 'float' },
      });
      expect(twin.long?.actual.metadata.reason).toHaveLength(TWIN_REASON_MAX_LENGTH);
      expect(twin.plain?.actual.metadata).not.toHaveProperty('reason');
    });
  });
