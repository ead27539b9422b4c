import { randomUUID } from 'node:crypto';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { validatorFor } from '../../device-models/ajv.js';
import {
  DataUpdate,
  ErrorResult,
  StateUpdate,
  type TwinDelta,
  TwinUpdate,
} from '../../device-models/eventbus.js';
import { recordingLogger } from '../testing/recording-logger.js';
import { EventBus, type EventBusOptions } from './event-bus.js';
import { dataUpdate, stateUpdate, twinUpdate, twinUpdateDelta, twinUpdateResult } from './topics.js';
import type { BusTransport } from './transport.js';

/** A broker the contract runs against; `stop` is called once, after the suite. */
export interface ContractBroker {
  url: string;
  /** When set, every bus reaches the broker by a transport from it (EventBusOptions.transport), not the url. */
  transport?: () => BusTransport;
  stop(): Promise<void>;
}

/** Messages received on one subscription, taken in order with `next()`. */
class Inbox<T> {
  readonly items: { topic: string; payload: T }[] = [];
  private cursor = 0;
  private waiting?: () => void;

  push(topic: string, payload: T): void {
    this.items.push({ topic, payload });
    this.waiting?.();
  }

  async next(): Promise<{ topic: string; payload: T }> {
    while (this.cursor >= this.items.length) await new Promise<void>((resolve) => (this.waiting = resolve));
    return this.items[this.cursor++]!;
  }
}

async function inbox<S extends TSchema>(bus: EventBus, filter: string, schema: S): Promise<Inbox<Static<S>>> {
  const box = new Inbox<Static<S>>();
  await bus.subscribe(filter, schema, (topic, payload) => box.push(topic, payload));
  return box;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const Anything = Type.Unknown();

/** Checks `event_id` and a millisecond `timestamp` taken between `before` and now. */
function expectStamped(payload: unknown, before: number): void {
  const { event_id, timestamp } = payload as { event_id: unknown; timestamp: unknown };
  expect(event_id).toMatch(UUID);
  expect(Number.isInteger(timestamp)).toBe(true);
  expect(timestamp).toBeGreaterThanOrEqual(before);
  expect(timestamp).toBeLessThanOrEqual(Date.now());
}

function delta(setpoint: string): TwinDelta {
  const timestamp = Date.now();
  return {
    event_id: randomUUID(),
    timestamp,
    twin: {
      setpoint: {
        expected: { value: setpoint, metadata: { timestamp } },
        actual: { value: '20', metadata: { timestamp } },
        metadata: { type: 'int' },
      },
    },
    delta: { setpoint },
  };
}

/**
 * The EventBus client's contract, run once per broker (embedded aedes, an external mosquitto…). Every test
 * uses its own random namespace, so several runs can share one broker.
 */
export function eventBusContract(name: string, getBroker: () => Promise<ContractBroker>): void {
  describe(`EventBus contract: ${name}`, () => {
    let broker: ContractBroker;
    let ns: string;
    const buses: EventBus[] = [];
    const open = async (options: EventBusOptions = {}) => {
      const transport = broker.transport?.();
      const bus = await EventBus.connect(broker.url, transport ? { transport, ...options } : options);
      buses.push(bus);
      return bus;
    };

    beforeAll(async () => {
      broker = await getBroker();
    });
    afterAll(async () => {
      await Promise.all(buses.map((bus) => bus.close()));
      await broker?.stop();
    });
    beforeEach(() => {
      ns = `et-${randomUUID().slice(0, 8)}`;
    });

    it('publishes twin updates, reported values, states and data in KubeEdge’s shape', async () => {
      const [mapper, observer] = [await open(), await open()];
      const hw = await inbox(observer, `$hw/events/device/${ns}/#`, Anything);
      const ke = await inbox(observer, dataUpdate(`${ns}/+`), Anything);
      const id = `${ns}/thermostat`;
      const before = Date.now();

      await mapper.reportActual(id, { temperature: { value: '21.5', type: 'float' } });
      const reported = await hw.next();
      expect(reported.topic).toBe(twinUpdate(id));
      expect(validatorFor(TwinUpdate)(reported.payload)).toBe(true);
      expectStamped(reported.payload, before);
      const twin = (reported.payload as TwinUpdate).twin.temperature;
      expect(twin).toEqual({
        actual: { value: '21.5', metadata: { timestamp: expect.any(Number) } },
        metadata: { type: 'float' },
      });

      await mapper.publishTwinUpdate(id, {
        setpoint: { expected: { value: '22' }, metadata: { type: 'int' } },
      });
      const update = await hw.next();
      expectStamped(update.payload, before);
      expect((update.payload as TwinUpdate).twin).toEqual({
        setpoint: { expected: { value: '22' }, metadata: { type: 'int' } },
      });

      // Model types KubeEdge's edgecore refuses go out in its set, the finer one beside it.
      await mapper.reportActual(id, {
        weight: { value: '1.5', type: 'double' },
        image: { value: 'AAEC', type: 'bytes' },
      });
      expect(((await hw.next()).payload as TwinUpdate).twin).toEqual({
        weight: {
          actual: { value: '1.5', metadata: { timestamp: expect.any(Number) } },
          metadata: { type: 'float', modelType: 'DOUBLE' },
        },
        image: {
          actual: { value: 'AAEC', metadata: { timestamp: expect.any(Number) } },
          metadata: { type: 'string', modelType: 'BYTES' },
        },
      });
      await mapper.publishTwinUpdate(id, {
        feed: { expected: { value: 'rtsp://x' }, metadata: { type: 'stream' } },
      });
      expect(((await hw.next()).payload as TwinUpdate).twin).toEqual({
        feed: { expected: { value: 'rtsp://x' }, metadata: { type: 'string', modelType: 'STREAM' } },
      });

      await mapper.publishState(id, 'online');
      const state = await hw.next();
      expect(state.topic).toBe(stateUpdate(id));
      expect(validatorFor(StateUpdate)(state.payload)).toBe(true);
      expectStamped(state.payload, before);
      expect(state.payload).toMatchObject({ state: 'online' });

      await mapper.publishData(id, {
        weight: { value: '1.23', type: 'float' },
        mass: { value: '2.5', type: 'double' },
      });
      const data = await ke.next();
      expect(data.topic).toBe(dataUpdate(id));
      expect(validatorFor(DataUpdate)(data.payload)).toBe(true);
      expectStamped(data.payload, before);
      expect((data.payload as DataUpdate).data).toEqual({
        weight: { value: '1.23', metadata: { type: 'float', timestamp: expect.any(Number) } },
        mass: {
          value: '2.5',
          metadata: { type: 'float', modelType: 'DOUBLE', timestamp: expect.any(Number) },
        },
      });
    });

    it('refuses to publish a payload KubeEdge would reject, or to an invalid device id', async () => {
      const bus = await open();
      await expect(
        bus.reportActual(`${ns}/d`, { 'bad key!': { value: '1', type: 'int' } }),
      ).rejects.toMatchObject({
        code: 'EVENTBUS_INVALID_PAYLOAD',
        message: expect.stringContaining('bad key!'),
      });
      await expect(bus.reportActual(`${ns}/d`, { t: { value: '1', type: 'INT' } })).rejects.toMatchObject({
        code: 'EVENTBUS_INVALID_PAYLOAD',
      });
      await expect(
        bus.publishTwinUpdate(`${ns}/d`, { t: { actual: { value: '1' }, metadata: { type: 'number' } } }),
      ).rejects.toMatchObject({
        code: 'EVENTBUS_INVALID_PAYLOAD',
        message: expect.stringContaining('number'),
      });
      await expect(bus.publishState('no-namespace', 'online')).rejects.toMatchObject({
        code: 'EVENTBUS_INVALID_TOPIC',
      });
    });

    it('calls onDelta with the two-level id, for its own device only', async () => {
      const [edge, mapper] = [await open(), await open()];
      const received: { id: string; delta: TwinDelta }[] = [];
      let arrived!: () => void;
      const done = new Promise<void>((resolve) => (arrived = resolve));
      await mapper.onDelta(`${ns}/dev-1`, (id, message) => {
        received.push({ id, delta: message });
        arrived();
      });
      await edge.publish(twinUpdateDelta(`${ns}/dev-2`), delta('30'), { qos: 1 });
      await edge.publish(twinUpdateDelta(`${ns}/dev-1`), delta('22'), { qos: 1 });
      await done;
      expect(received).toHaveLength(1);
      expect(received[0]?.id).toBe(`${ns}/dev-1`);
      expect(received[0]?.delta.delta).toEqual({ setpoint: '22' });
    });

    it('dispatches a wildcard onDelta("+") to every device, with each id', async () => {
      const [edge, mapper] = [await open(), await open()];
      const seen = new Map<string, string | undefined>();
      let both!: () => void;
      const done = new Promise<void>((resolve) => (both = resolve));
      await mapper.onDelta('+', (id, message) => {
        if (!id.startsWith(`${ns}/`)) return; // another run on a shared broker
        seen.set(id, message.delta.setpoint);
        if (seen.size === 2) both();
      });
      await edge.publish(twinUpdateDelta(`${ns}/a`), delta('1'), { qos: 1 });
      await edge.publish(twinUpdateDelta(`${ns}/b`), delta('2'), { qos: 1 });
      await done;
      expect(Object.fromEntries(seen)).toEqual({ [`${ns}/a`]: '1', [`${ns}/b`]: '2' });
    });

    it('answers malformed JSON and invalid payloads with 400 on the result topic, and keeps going', async () => {
      const { log, lines } = recordingLogger();
      const [edge, app] = [await open({ log }), await open()];
      const updates = new Inbox<TwinUpdate>();
      await edge.subscribe(
        twinUpdate(`${ns}/+`),
        TwinUpdate,
        (topic, payload) => updates.push(topic, payload),
        {
          resultTopic: (topic) => `${topic}/result`,
        },
      );
      const results = await inbox(app, twinUpdateResult(`${ns}/+`), ErrorResult);
      const id = `${ns}/dev`;

      await app.publish(twinUpdate(id), '{"twin": {');
      const malformed = await results.next();
      // As KubeEdge's Result: an event_id even when none could be read.
      expect(malformed.payload).toMatchObject({
        event_id: '',
        code: 400,
        reason: expect.stringMatching(/malformed JSON/),
      });
      expect(Number.isInteger(malformed.payload.timestamp)).toBe(true);
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'warn',
          obj: expect.objectContaining({ topic: twinUpdate(id), code: 400 }),
        }),
      );

      const invalid = {
        event_id: 'e-1',
        timestamp: Date.now(),
        twin: { 'bad key!': {}, t: { actual: { value: 5 } } },
      };
      await app.publish(twinUpdate(id), invalid);
      const refused = await results.next();
      expect(refused.payload).toMatchObject({ event_id: 'e-1', code: 400 });
      expect(refused.payload.reason).toContain('bad key!');
      expect(refused.payload.reason).toContain('/twin/t/actual/value');

      const valid = {
        event_id: 'e-2',
        timestamp: Date.now(),
        twin: { t: { actual: { value: '5' } } },
        extra: 'kept',
      };
      await app.publish(twinUpdate(id), valid);
      expect(await updates.next()).toEqual({ topic: twinUpdate(id), payload: valid });
      // KubeEdge's shapes: mappers-go's (`"event_id": ""`, a `metadata: {}` on actual), its examples' (no
      // event_id, no timestamp), null where Go takes a zero value.
      const kubeEdgeShaped = [
        {
          event_id: '',
          timestamp: Date.now(),
          twin: { t: { actual: { value: '5', metadata: {} }, metadata: { type: 'float' } } },
        },
        { twin: { t: { actual: { value: '5' }, metadata: { type: 'Updated' } } } },
        {
          event_id: null,
          timestamp: null,
          twin: { t: { actual: { value: '5' }, metadata: { type: null } } },
        },
      ];
      for (const payload of kubeEdgeShaped) {
        await app.publish(twinUpdate(id), payload);
        expect(await updates.next()).toEqual({ topic: twinUpdate(id), payload });
      }
      expect(edge.connected && app.connected).toBe(true);
      expect(results.items).toHaveLength(2);
    });

    it('refuses oversize payloads with 413: over 64 KiB by default, or over the configured limit', async () => {
      const [edge, small, app] = [await open(), await open({ maxPayloadBytes: 256 }), await open()];
      const answer = { resultTopic: (topic: string) => `${topic}/result` };
      const received: unknown[] = [];
      await edge.subscribe(
        twinUpdate(`${ns}/big`),
        Anything,
        (_t, p) => {
          received.push(p);
        },
        answer,
      );
      await small.subscribe(
        twinUpdate(`${ns}/small`),
        Anything,
        (_t, p) => {
          received.push(p);
        },
        answer,
      );
      const results = await inbox(app, twinUpdateResult(`${ns}/+`), ErrorResult);
      const big = { event_id: 'big', timestamp: Date.now(), twin: {}, padding: 'x'.repeat(65 * 1024) };

      await expect(app.publish(twinUpdate(`${ns}/big`), big)).rejects.toMatchObject({
        code: 'EVENTBUS_PAYLOAD_TOO_LARGE',
      });
      const sender = await open({ maxPayloadBytes: 1024 * 1024 });
      await sender.publish(twinUpdate(`${ns}/big`), big, { qos: 1 });
      expect((await results.next()).payload).toMatchObject({
        code: 413,
        reason: expect.stringContaining('65536'),
      });

      await app.publish(twinUpdate(`${ns}/small`), { ...big, padding: 'x'.repeat(300) });
      expect((await results.next()).payload).toMatchObject({
        code: 413,
        reason: expect.stringContaining('256'),
      });
      expect(received).toEqual([]);
    });

    it('logs a handler that throws, and goes on with the next message', async () => {
      const { log, lines } = recordingLogger();
      const [edge, app] = [await open({ log }), await open()];
      const topic = stateUpdate(`${ns}/dev`);
      let second!: (state: string) => void;
      const done = new Promise<string>((resolve) => (second = resolve));
      let calls = 0;
      await edge.subscribe(topic, StateUpdate, async (_t, payload) => {
        if (++calls === 1) throw new Error('handler broke');
        second(payload.state);
      });
      await app.publishState(`${ns}/dev`, 'offline');
      await app.publishState(`${ns}/dev`, 'online');
      expect(await done).toBe('online');
      expect(lines).toContainEqual(
        expect.objectContaining({
          level: 'error',
          obj: expect.objectContaining({ topic, err: 'handler broke' }),
        }),
      );
    });

    it('keeps the other subscription to a filter when one unsubscribes', async () => {
      const [a, b] = [await open(), await open()];
      const topic = stateUpdate(`${ns}/dev`);
      const gone: unknown[] = [];
      const off = await a.subscribe(topic, StateUpdate, (_t, p) => {
        gone.push(p);
      });
      const kept = await inbox(a, topic, StateUpdate);
      await off();
      await off();
      await b.publishState(`${ns}/dev`, 'ok');
      expect((await kept.next()).payload.state).toBe('ok');
      expect(gone).toEqual([]);
    });

    it('closes twice without complaint, and refuses use after close', async () => {
      const bus = await open();
      expect(bus.connected).toBe(true);
      await bus.close();
      await bus.close();
      expect(bus.connected).toBe(false);
      await expect(bus.publish(stateUpdate(`${ns}/d`), {})).rejects.toMatchObject({
        code: 'EVENTBUS_CLOSED',
      });
      await expect(bus.subscribe(stateUpdate(`${ns}/d`), Anything, () => {})).rejects.toMatchObject({
        code: 'EVENTBUS_CLOSED',
      });
    });
  });
}
