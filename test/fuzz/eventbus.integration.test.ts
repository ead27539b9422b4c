import fc from 'fast-check';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeCore } from '../../edgecore/edgecore.js';
import { waitFor } from '../support/wait-for.js';
import { answerTopic, type BusRequest, busRequest, FUZZ_ID } from './arbitraries.js';
import { type FuzzEdge, startFuzzEdge } from './fuzz-edge.js';
import { fuzzParams, fuzzTimeout } from './fuzz-params.js';

/**
 * The edge's EventBus entry points fuzzed over real MQTT: edgecore in-process with its embedded broker on port
 * 0, a SQLite file, and real mqtt.js clients. Every request on a topic the edge serves (`twin/update`,
 * `twin/get`, `state/update` of a `{ns}/{name}`, `membership/get` of a node) is answered on its `/result`
 * within ANSWER_MS, whatever its payload; anything else (extra or empty levels, result topics, uploads) is
 * answered by nothing, and the edge still answers the next probe. No crash (an uncaught error fails the run).
 */

const ANSWER_MS = 2000;
/**
 * The embedded broker's `maxPacketSize` default: a larger packet closes the sender's connection (documented in
 * edgecore/config.ts), so nothing answers it. A little room is left for the topic and the packet header.
 */
const MAX_PACKET = 262_144 - 1024;

describe('fuzzing the EventBus entry points', () => {
  let fuzzEdge: FuzzEdge | undefined;
  let edge: EdgeCore;
  let watcher: MqttClient;
  let attacker: MqttClient;
  const seen = new Map<string, number>();
  const probes = new Set<string>();
  let probeCount = 0;

  beforeAll(async () => {
    fuzzEdge = await startFuzzEdge('fuzz-bus-');
    ({ edge } = fuzzEdge);
    const options = { protocolVersion: 4 as const };
    watcher = await mqtt.connectAsync(edge.brokerUrl, options);
    watcher.on('message', (topic, payload) => {
      seen.set(topic, (seen.get(topic) ?? 0) + 1);
      if (topic === `$hw/events/device/${FUZZ_ID}/twin/get/result`) {
        const id = (JSON.parse(payload.toString()) as { event_id?: string }).event_id;
        if (id?.startsWith('probe-')) probes.add(id);
      }
    });
    await watcher.subscribeAsync('$hw/events/#', { qos: 1 });
    // The client that sends the fuzz; the broker may drop it for a topic MQTT forbids (NUL): it comes back.
    attacker = await mqtt.connectAsync(edge.brokerUrl, { ...options, reconnectPeriod: 20 });
    attacker.on('error', () => {});
  }, 30_000);
  afterAll(async () => {
    await attacker?.endAsync(true);
    await watcher?.endAsync(true);
    await fuzzEdge?.stop();
  });

  /** A normal `twin/get` of the known device, answered within ANSWER_MS. */
  async function probe(): Promise<void> {
    const id = `probe-${++probeCount}`;
    await watcher.publishAsync(
      `$hw/events/device/${FUZZ_ID}/twin/get`,
      JSON.stringify({ event_id: id, timestamp: Date.now() }),
      { qos: 1 },
    );
    await waitFor(`${id} answered`, () => probes.has(id), ANSWER_MS, 2);
  }

  /** Sends one request; resolves once it is answered (or, where no answer is due, once the probe is). */
  async function request({ topic, payload }: BusRequest): Promise<void> {
    const answer = payload.length < MAX_PACKET ? answerTopic(topic) : undefined;
    const before = answer ? (seen.get(answer) ?? 0) : 0;
    if (!attacker.connected)
      await waitFor('the fuzz client reconnected', () => attacker.connected, ANSWER_MS);
    // A publish the broker refuses (the edge's outputs, NUL in a topic) drops the client, and mqtt.js would send
    // a QoS 1 one again on every reconnect: those go at QoS 0. Bounded, then counted as not sent.
    const sent = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ANSWER_MS);
      attacker.publish(topic, payload, { qos: answer ? 1 : 0 }, (error) => {
        clearTimeout(timer);
        resolve(!error);
      });
    });
    if (process.env.FUZZ_DEBUG) console.log(JSON.stringify(topic), payload.length, sent);
    if (answer && sent)
      await waitFor(
        `an answer on ${answer} to ${payload.subarray(0, 80).toString()}`,
        () => (seen.get(answer) ?? 0) > before,
        ANSWER_MS,
        2,
      );
    await probe();
  }

  it(
    'answers every request on its result topic, or (where none is due) keeps answering others',
    async () => {
      await probe();
      await fc.assert(fc.asyncProperty(busRequest, request), fuzzParams(100));
      // Afterwards a normal update is applied and acknowledged.
      const done = new Promise<Record<string, unknown>>((resolve) =>
        watcher.on('message', (topic, payload) => {
          const body = JSON.parse(payload.toString()) as Record<string, unknown>;
          if (topic.endsWith(`${FUZZ_ID}/twin/update/result`) && body.event_id === 'after-fuzz')
            resolve(body);
        }),
      );
      await watcher.publishAsync(
        `$hw/events/device/${FUZZ_ID}/twin/update`,
        JSON.stringify({ event_id: 'after-fuzz', twin: { level: { expected: { value: '42' } } } }),
        { qos: 1 },
      );
      const result = await done;
      expect(result.code).toBeUndefined();
      expect(edge.twinModule?.twins(FUZZ_ID)?.level?.expected?.value).toBe('42');
      expect((await fetch(`${edge.httpUrl}/healthz`)).status).toBe(200);
    },
    fuzzTimeout(60_000),
  );
});
