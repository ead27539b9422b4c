import { randomUUID } from 'node:crypto';
import type { Static, TSchema } from '@sinclair/typebox';
import { EdgetwinError } from '../../device-models/errors.js';
import {
  DataUpdate,
  type DeviceStateName,
  type ErrorResult,
  type MsgTwin,
  type MsgTwinMap,
  payloadProblem,
  StateUpdate,
  TwinDelta,
  TwinGet,
  TwinGetResult,
  TwinUpdate,
  twinReason,
} from '../../device-models/eventbus.js';
import { setOwn } from '../../device-models/set-own.js';
import { type TwinType, twinTypeNamed } from '../../device-models/values.js';
import { type Logger, silentLogger } from '../logger.js';
import type { DeviceBus } from '../runtime/device-bus.js';
import { TopicRouter } from './topic-router.js';
import {
  ANY_DEVICE,
  dataUpdate,
  EventBusError,
  isValidFilter,
  parseDeviceTopic,
  stateUpdate,
  twinGet,
  twinGetResult,
  twinUpdate,
  twinUpdateDelta,
} from './topics.js';
import { type BusTransport, MqttTransport } from './transport.js';

export { EventBusError, type EventBusErrorCode } from './topics.js';

/**
 * A request on the EventBus (`getTwins`) got no answer within its timeout (`EVENTBUS_TIMEOUT`), or an error
 * result (`EVENTBUS_REQUEST_FAILED`, with the result's `code` and `reason`). A closed bus rejects with
 * EventBusError `EVENTBUS_CLOSED` instead.
 */
export class EventBusRequestError extends EdgetwinError {
  constructor(
    code: 'EVENTBUS_TIMEOUT' | 'EVENTBUS_REQUEST_FAILED',
    message: string,
    readonly result?: { code: number; reason?: string },
  ) {
    super(code, message);
  }
}

/** How to reach the broker, and the bounds the client keeps. */
export interface EventBusOptions {
  /** MQTT client id (default `edgetwin-` and a random suffix). */
  clientId?: string;
  username?: string;
  password?: string;
  log?: Logger;
  /** How long `connect` waits for the broker's CONNACK, ms (default 5000). */
  connectTimeoutMs?: number;
  /** Pause between reconnect attempts, ms (default 1000). */
  reconnectPeriodMs?: number;
  /** Largest payload received or sent, bytes (default 64 KiB); larger incoming ones get a 413. */
  maxPayloadBytes?: number;
  /** Publishes held while disconnected before `publish` refuses more (default 1000). */
  maxQueued?: number;
  /**
   * Messages waiting for a busy handler, per subscription, before new ones are refused (default 1000): each
   * refused one is answered 503 on the subscription's result topic, and counted (`onRefused`).
   */
  maxPending?: number;
  /** How deep objects and arrays of an incoming payload may nest (default 32); deeper ones get a 400. */
  maxDepth?: number;
  /** Told of every incoming message refused (400, 413, or 503 when a handler is too far behind). */
  onRefused?: (filter: string, code: 400 | 413 | 503) => void;
  /**
   * Reaches the broker this way instead of an MQTT connection to the url: e.g. the embedded broker's
   * `localTransport()`, for a client in the broker's own process (no socket, no MQTT packets, no
   * credentials). The url then only names the broker in logs and errors. The EventBus owns and closes it.
   */
  transport?: BusTransport;
}

/** Options of `subscribe`. */
export interface SubscribeOptions {
  /** Where a refused payload (400 malformed, 413 too large) is answered; undefined: nowhere. */
  resultTopic?: (topic: string) => string | undefined;
  qos?: 0 | 1;
}

/** Options of `publish`. */
export interface PublishOptions {
  qos?: 0 | 1;
  retain?: boolean;
}

/**
 * A reported value: the string and its lower-case type name: one of KubeEdge's (`float`, `int`, `boolean`,
 * `string`…) or a lower-case model type (`double`, `bytes`, `stream`), published as KubeEdge's (twinTypeNamed).
 */
export interface TypedValue {
  value: string;
  type: string;
  /**
   * Beyond KubeEdge, for `reportActual`: why the device holds this value rather than the desired one. Sent as
   * `actual.metadata.reason`, cut to TWIN_REASON_MAX_LENGTH characters; `publishData` ignores it.
   */
  reason?: string;
}

interface Subscription {
  filter: string;
  qos: 0 | 1;
  schema: TSchema;
  handler: (topic: string, payload: never) => void | Promise<void>;
  resultTopic: ((topic: string) => string | undefined) | undefined;
  active: boolean;
  /** The handler runs one message at a time, in order; this is the end of its chain. */
  tail: Promise<void>;
  pending: number;
  dropped: number;
}

const DEFAULT_MAX_PAYLOAD = 64 * 1024;

/**
 * A client of KubeEdge's edge EventBus (MQTT 3.1.1, so that it works with aedes and mosquitto alike).
 * One MQTT connection; incoming messages are matched against local subscriptions, size-checked, JSON-parsed
 * and validated against each subscription's schema before its handler sees them. A bad payload never
 * throws: it is logged and, where the subscription says so, answered on its result topic. Reconnects are
 * mqtt.js's; after each one the client restores its subscriptions, then calls `onConnect` listeners.
 */
export class EventBus implements DeviceBus {
  private readonly subscriptions = new Set<Subscription>();
  /** The same subscriptions by filter: what `dispatch` looks a topic up in, whatever their number. */
  private readonly router = new TopicRouter<Subscription>();
  /** How many subscriptions hold each filter (the broker's subscription goes with the last one). */
  private readonly filterCount = new Map<string, number>();
  private readonly connectListeners = new Set<() => void>();
  private readonly inflight = new Set<(error: Error) => void>();
  private readonly maxPayloadBytes: number;
  private closed = false;
  private closing?: Promise<void>;

  private constructor(
    private readonly transport: BusTransport,
    private readonly url: string,
    private readonly log: Logger,
    private readonly options: EventBusOptions,
  ) {
    this.maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD;
    transport.listen({
      message: (topic, payload) => this.dispatch(topic, payload),
      reconnected: () => void this.restore(),
    });
  }

  /**
   * Connects and resolves after the broker's CONNACK. Rejects with an `EventBusError` when the broker
   * refuses (bad credentials: `EVENTBUS_REFUSED`) or nothing answers within `connectTimeoutMs`
   * (`EVENTBUS_CONNECT_TIMEOUT`, with the last socket error if there was one).
   */
  static async connect(url: string, options: EventBusOptions = {}): Promise<EventBus> {
    const log = (options.log ?? silentLogger).child({ module: 'eventbus' });
    const timeoutMs = options.connectTimeoutMs ?? 5000;
    const transport =
      options.transport ??
      new MqttTransport(
        url,
        {
          clientId: options.clientId ?? `edgetwin-${randomUUID().slice(0, 8)}`,
          connectTimeoutMs: timeoutMs,
          reconnectPeriodMs: options.reconnectPeriodMs ?? 1000,
          ...(options.username !== undefined ? { username: options.username } : {}),
          ...(options.password !== undefined ? { password: options.password } : {}),
        },
        log,
      );
    const bus = new EventBus(transport, url, log, options);
    try {
      await transport.open(timeoutMs);
    } catch (error) {
      await bus.close();
      throw error;
    }
    log.info({ url }, 'EventBus connected');
    return bus;
  }

  /** Whether the connection is up now. */
  get connected(): boolean {
    return !this.closed && this.transport.connected;
  }

  /**
   * Whether a message published on `topic` now would reach anyone. Only an in-process bus on the embedded
   * broker can tell (it sees every subscription there); on an MQTT connection this is always true. A
   * publisher may skip building a payload nobody hears.
   */
  heard(topic: string): boolean {
    return this.transport.heard?.(topic) ?? true;
  }

  /** Calls `listener` after every reconnect, once subscriptions are restored. Returns its remover. */
  onConnect(listener: () => void): () => void {
    this.connectListeners.add(listener);
    return () => this.connectListeners.delete(listener);
  }

  /**
   * `…/twin/update` (QoS 1), with a fresh `event_id` and `timestamp`. A `metadata.type` goes out in KubeEdge's
   * set (twinTypeNamed: `double` as `float` with `modelType` DOUBLE); an unknown one is refused.
   */
  async publishTwinUpdate(id: string, twin: Record<string, MsgTwin>): Promise<void> {
    const topic = twinUpdate(id);
    const typed = Object.entries(twin).map(([name, t]) => {
      const type = t?.metadata?.type;
      return [name, type == null ? t : { ...t, metadata: { ...t.metadata, ...kubeEdgeType(topic, type) } }];
    });
    await this.publishChecked(topic, TwinUpdate, { ...stamp(), twin: Object.fromEntries(typed) }, 1);
  }

  /**
   * Reports values as twins' `actual`, each with its type in KubeEdge's set (see TypedValue) and, when given,
   * its reason in `actual.metadata.reason` (cut, never refused, when too long): `…/twin/update` (QoS 1).
   */
  async reportActual(id: string, values: Record<string, TypedValue>): Promise<void> {
    const topic = twinUpdate(id);
    const timestamp = Date.now();
    // Built in one pass: every device reports every cycle.
    const twin: Record<string, MsgTwin> = {};
    for (const name in values) {
      if (!Object.hasOwn(values, name)) continue;
      const { value, type, reason } = values[name]!;
      const kept = twinReason(reason);
      const actual = { value, metadata: kept ? { timestamp, reason: kept } : { timestamp } };
      setOwn(twin, name, { actual, metadata: kubeEdgeType(topic, type) });
    }
    await this.publishChecked(topic, TwinUpdate, { event_id: randomUUID(), timestamp, twin }, 1);
  }

  /** `…/state/update` (QoS 1). */
  async publishState(id: string, state: DeviceStateName): Promise<void> {
    await this.publishChecked(stateUpdate(id), StateUpdate, { ...stamp(), state }, 1);
  }

  /** `$ke/events/device/{id}/data/update` (QoS 0): readings that are not twins, typed as reportActual types. */
  async publishData(id: string, data: Record<string, TypedValue>): Promise<void> {
    const topic = dataUpdate(id);
    const timestamp = Date.now();
    const entries = Object.entries(data).map(([name, { value, type }]) => [
      name,
      { value, metadata: { ...kubeEdgeType(topic, type), timestamp } },
    ]);
    await this.publishChecked(topic, DataUpdate, { ...stamp(), data: Object.fromEntries(entries) }, 0);
  }

  /**
   * Calls `handler` with each `…/twin/update/delta` of device `id` (`'+'`: of every device), in order, with
   * the device id the topic names. Resolves once subscribed, to an unsubscribe function.
   */
  async onDelta(
    id: string,
    handler: (id: string, delta: TwinDelta) => void | Promise<void>,
  ): Promise<() => Promise<void>> {
    const filter = twinUpdateDelta(id === '+' ? ANY_DEVICE : id);
    const deliver = (topic: string, delta: TwinDelta) => handler(parseDeviceTopic(topic)?.id ?? id, delta);
    return this.subscribe(filter, TwinDelta, deliver, { qos: 1 });
  }

  /**
   * Asks the twin module for every twin of device `id`: publishes `…/twin/get` with a fresh `event_id` and
   * resolves with the `twin` of the `…/twin/get/result` that echoes it (results for other requests are
   * ignored), or undefined when the answer is a 404 (no such device). Any other error result rejects with
   * EventBusRequestError `EVENTBUS_REQUEST_FAILED`; no answer within `timeoutMs` (default 5000) with
   * `EVENTBUS_TIMEOUT`; `close()` with EventBusError `EVENTBUS_CLOSED`. Each call subscribes to the device's
   * result topic for its own duration only: nothing (subscription, timer) outlives it.
   */
  async getTwins(id: string, timeoutMs = 5000): Promise<MsgTwinMap | undefined> {
    this.checkOpen();
    const eventId = randomUUID();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new EventBusRequestError(
              'EVENTBUS_TIMEOUT',
              `no twin/get/result for ${id} within ${timeoutMs} ms (is edgecore's twin module on this broker?)`,
            ),
          ),
        timeoutMs,
      );
    });
    expired.catch(() => {}); // raced below; this only keeps an expiry between steps from going unhandled
    let answer!: (result: TwinGetResult) => void;
    const answered = new Promise<TwinGetResult>((resolve) => (answer = resolve));
    let unsubscribe: (() => Promise<void>) | undefined;
    const subscribing = this.subscribe(
      twinGetResult(id),
      TwinGetResult,
      (_topic, result) => {
        if (result.event_id === eventId) answer(result);
      },
      { qos: 1 },
    ).then((done) => {
      unsubscribe = done;
      return done;
    });
    try {
      await Promise.race([subscribing, expired]);
      const request: TwinGet = { event_id: eventId, timestamp: Date.now() };
      const result = await this.track(
        Promise.race([
          this.publishChecked(twinGet(id), TwinGet, request, 1).then(() => answered),
          answered,
          expired,
        ]),
      );
      if (result.code === 404) return undefined;
      if (result.code !== undefined && (result.code < 200 || result.code >= 300))
        throw new EventBusRequestError(
          'EVENTBUS_REQUEST_FAILED',
          `twin/get for ${id} failed with ${result.code}: ${result.reason ?? 'no reason given'}`,
          { code: result.code, ...(result.reason !== undefined ? { reason: result.reason } : {}) },
        );
      return result.twin ?? {};
    } finally {
      clearTimeout(timer);
      // Timed out before the broker's SUBACK: the subscription is undone once it arrives.
      if (!unsubscribe) subscribing.then((done) => done()).catch(() => {});
      await unsubscribe?.();
    }
  }

  /**
   * Subscribes to an MQTT filter. Each matching payload is JSON-parsed and validated with `schema`; the
   * handler gets the valid ones, one at a time and in order. A payload that is too large (413), not JSON or
   * not valid (400) is logged (warn, with topic and reason) and, when `resultTopic` names a topic, answered
   * there with `{event_id, timestamp, code, reason}` (event_id the payload's, or ""). A handler that throws
   * is logged. Never throws for a payload. Resolves after the broker's SUBACK, to an unsubscribe function
   * (safe to call twice).
   */
  async subscribe<S extends TSchema>(
    filter: string,
    schema: S,
    handler: (topic: string, payload: Static<S>) => void | Promise<void>,
    options: SubscribeOptions = {},
  ): Promise<() => Promise<void>> {
    this.checkOpen();
    if (!isValidFilter(filter))
      throw new EventBusError('EVENTBUS_INVALID_TOPIC', `"${filter}" is not a valid MQTT filter`);
    const sub: Subscription = {
      filter,
      qos: options.qos ?? 1,
      schema,
      handler,
      resultTopic: options.resultTopic,
      active: true,
      tail: Promise.resolve(),
      pending: 0,
      dropped: 0,
    };
    this.hold(sub);
    try {
      const granted = await this.track(this.transport.subscribe({ [filter]: sub.qos }));
      if (!granted)
        throw new EventBusError(
          'EVENTBUS_SUBSCRIBE_REFUSED',
          `the broker refused a subscription to ${filter}`,
        );
    } catch (error) {
      this.remove(sub);
      throw error;
    }
    return async () => {
      if (!sub.active) return;
      this.remove(sub);
      // Offline, the broker has nothing to be told: the clean session a reconnect opens holds only the
      // filters still subscribed (restore()), and waiting for a reconnect would hold up a shutdown.
      if (this.closed || this.filterCount.has(filter) || !this.transport.connected) return;
      await this.track(this.transport.unsubscribe(filter)).catch((error: Error) =>
        this.log.debug({ filter, err: error.message }, 'unsubscribe failed'),
      );
    };
  }

  /**
   * Publishes a payload: strings and bytes as they are, anything else as JSON. Rejects when closed, when
   * the payload exceeds `maxPayloadBytes`, or when `maxQueued` publishes already wait for a reconnect.
   * Resolves once sent (QoS 0) or acknowledged (QoS 1).
   */
  async publish(topic: string, payload: unknown, options: PublishOptions = {}): Promise<void> {
    this.checkOpen();
    if (!topic || /[+#\0]/.test(topic))
      throw new EventBusError('EVENTBUS_INVALID_TOPIC', `"${topic}" is not a topic one can publish to`);
    const body = encode(payload);
    if (body.length > this.maxPayloadBytes)
      throw new EventBusError(
        'EVENTBUS_PAYLOAD_TOO_LARGE',
        `${body.length} bytes for ${topic} exceed the limit of ${this.maxPayloadBytes}`,
      );
    const maxQueued = this.options.maxQueued ?? 1000;
    if (!this.transport.connected && this.transport.queued >= maxQueued)
      throw new EventBusError(
        'EVENTBUS_QUEUE_FULL',
        `EventBus offline and ${maxQueued} publishes already wait`,
      );
    const qos = options.qos ?? 0;
    await this.track(this.transport.publish(topic, body, qos, options.retain ?? false));
  }

  /** Disconnects and releases every socket and timer; pending publishes reject. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    for (const sub of this.subscriptions) sub.active = false;
    this.subscriptions.clear();
    this.router.clear();
    this.filterCount.clear();
    this.connectListeners.clear();
    const error = new EventBusError('EVENTBUS_CLOSED', 'the EventBus was closed');
    for (const reject of this.inflight) reject(error);
    this.inflight.clear();
    await this.transport.close();
  }

  /** After a reconnect (clean session): subscribes to every filter again, then tells the listeners. */
  private async restore(): Promise<void> {
    const filters: Record<string, 0 | 1> = {};
    for (const { filter, qos } of this.subscriptions)
      filters[filter] = Math.max(qos, filters[filter] ?? 0) as 0 | 1;
    try {
      if (Object.keys(filters).length > 0) await this.track(this.transport.subscribe(filters));
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'EventBus could not restore subscriptions');
      return;
    }
    this.log.info({ url: this.url, subscriptions: Object.keys(filters).length }, 'EventBus reconnected');
    for (const listener of this.connectListeners) {
      try {
        listener();
      } catch (error) {
        this.log.error({ err: (error as Error).message }, 'EventBus onConnect listener failed');
      }
    }
  }

  private dispatch(topic: string, payload: Buffer): void {
    if (this.closed) return;
    let text: string | undefined;
    let tooDeep: boolean | undefined;
    for (const sub of this.router.match(topic)) {
      if (payload.length > this.maxPayloadBytes) {
        const reason = `payload of ${payload.length} bytes exceeds the limit of ${this.maxPayloadBytes}`;
        this.refuse(sub, topic, 413, reason, undefined);
        continue;
      }
      text ??= payload.toString('utf8');
      let data: unknown;
      try {
        data = JSON.parse(text);
      } catch (error) {
        this.refuse(sub, topic, 400, `malformed JSON: ${(error as Error).message}`, undefined);
        continue;
      }
      // Each subscription gets its own parse, but the payload nests the same for all: walked once.
      const maxDepth = this.options.maxDepth ?? DEFAULT_MAX_DEPTH;
      tooDeep ??= nestsDeeper(data, maxDepth);
      if (tooDeep) {
        this.refuse(sub, topic, 400, `payload nests deeper than ${maxDepth} levels`, eventIdOf(data));
        continue;
      }
      const problem = payloadProblem(sub.schema, data);
      if (problem !== undefined) {
        this.refuse(sub, topic, 400, problem, eventIdOf(data));
        continue;
      }
      this.enqueue(sub, topic, data);
    }
  }

  private enqueue(sub: Subscription, topic: string, data: unknown): void {
    const maxPending = this.options.maxPending ?? 1000;
    if (sub.pending >= maxPending) {
      // Refused, and said so: a QoS 1 message was PUBACK'd already, so its result is the only answer.
      if (sub.dropped++ % 100 === 0)
        this.log.warn(
          { filter: sub.filter, refused: sub.dropped },
          'EventBus handler too slow; refusing messages with 503',
        );
      this.answer(
        sub,
        topic,
        503,
        `busy: ${maxPending} messages already wait for this handler`,
        eventIdOf(data),
      );
      return;
    }
    sub.pending++;
    sub.tail = sub.tail.then(async () => {
      try {
        if (sub.active) await sub.handler(topic, data as never);
      } catch (error) {
        this.log.error({ topic, err: (error as Error)?.message ?? String(error) }, 'EventBus handler failed');
      } finally {
        sub.pending--;
      }
    });
  }

  private refuse(sub: Subscription, topic: string, code: 400 | 413, reason: string, eventId?: string): void {
    this.log.warn({ topic, code, reason }, 'EventBus payload refused');
    this.answer(sub, topic, code, reason, eventId);
  }

  /** Counts a refused message and answers it on the subscription's result topic, when it has one. */
  private answer(sub: Subscription, topic: string, code: 400 | 413 | 503, reason: string, eventId?: string) {
    this.options.onRefused?.(sub.filter, code);
    const to = sub.resultTopic?.(topic);
    if (!to || to === topic) return;
    // As KubeEdge's Result: event_id always there, "" when the payload had none or could not be read.
    const answer: ErrorResult = { event_id: eventId ?? '', timestamp: Date.now(), code, reason };
    this.publish(to, answer).catch((error: Error) =>
      this.log.debug({ topic: to, err: error.message }, 'could not answer a refused payload'),
    );
  }

  /**
   * Publishes a payload this class built (fresh, never changed afterwards) after checking it against
   * `schema`. When nobody but this bus would hear it (an in-process mapper reporting to the twin module on
   * the embedded broker, with no MQTT client on the topic), it goes to this bus's own subscriptions as it
   * is: not encoded, not through the broker, not parsed, and not checked again against the same schema.
   */
  private async publishChecked(topic: string, schema: TSchema, payload: object, qos: 0 | 1): Promise<void> {
    const problem = payloadProblem(schema, payload);
    if (problem !== undefined) throw new EventBusError('EVENTBUS_INVALID_PAYLOAD', `${topic}: ${problem}`);
    if (this.transport.heardElsewhere?.(topic) === false && this.transport.connected) {
      this.checkOpen();
      for (const sub of this.router.match(topic)) {
        const again = sub.schema === schema ? undefined : payloadProblem(sub.schema, payload);
        if (again === undefined) this.enqueue(sub, topic, payload);
        else this.refuse(sub, topic, 400, again, eventIdOf(payload));
      }
      return;
    }
    await this.publish(topic, payload, { qos });
  }

  private hold(sub: Subscription): void {
    this.subscriptions.add(sub);
    this.router.add(sub.filter, sub);
    this.filterCount.set(sub.filter, (this.filterCount.get(sub.filter) ?? 0) + 1);
  }

  private remove(sub: Subscription): void {
    sub.active = false;
    if (!this.subscriptions.delete(sub)) return;
    this.router.remove(sub.filter, sub);
    const count = (this.filterCount.get(sub.filter) ?? 1) - 1;
    if (count > 0) this.filterCount.set(sub.filter, count);
    else this.filterCount.delete(sub.filter);
  }

  private checkOpen(): void {
    if (this.closed) throw new EventBusError('EVENTBUS_CLOSED', 'the EventBus was closed');
  }

  /** Settles with `work`, or rejects when the bus closes first (mqtt.js may never call back then). */
  private track<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.inflight.add(reject);
      work.then(resolve, reject).finally(() => this.inflight.delete(reject));
    });
  }
}

/** A type name as KubeEdge's edgecore takes it (twinTypeNamed); EVENTBUS_INVALID_PAYLOAD for an unknown one. */
function kubeEdgeType(topic: string, type: string): TwinType {
  const named = twinTypeNamed(type);
  if (!named)
    throw new EventBusError(
      'EVENTBUS_INVALID_PAYLOAD',
      `${topic}: type "${type}" is neither one of KubeEdge's twin types nor a lower-case model type`,
    );
  return named;
}

/** A fresh `event_id` and `timestamp` (ms), as every KubeEdge payload carries. */
function stamp(): { event_id: string; timestamp: number } {
  return { event_id: randomUUID(), timestamp: Date.now() };
}

function encode(payload: unknown): Buffer {
  if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
  if (payload instanceof Uint8Array)
    return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const text = JSON.stringify(payload);
  if (text === undefined)
    throw new EventBusError('EVENTBUS_INVALID_PAYLOAD', 'payload is not JSON-serialisable');
  return Buffer.from(text, 'utf8');
}

function eventIdOf(data: unknown): string | undefined {
  const id = (data as { event_id?: unknown } | null)?.event_id;
  return typeof id === 'string' ? id : undefined;
}

/** Default of `maxDepth`: far beyond any payload of KubeEdge's, far below what recursion can take. */
const DEFAULT_MAX_DEPTH = 32;

/** Whether objects and arrays in `value` nest more than `limit` levels (stops looking once they do). */
function nestsDeeper(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (limit === 0) return true;
  if (Array.isArray(value)) {
    for (const item of value) if (nestsDeeper(item, limit - 1)) return true;
    return false;
  }
  for (const key in value) if (nestsDeeper((value as Record<string, unknown>)[key], limit - 1)) return true;
  return false;
}
