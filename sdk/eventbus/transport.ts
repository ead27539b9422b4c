import { createRequire } from 'node:module';
import type { IClientOptions, IStream, MqttClient } from 'mqtt';
import type { Logger } from '../logger.js';
import { EventBusError } from './topics.js';

/** What a transport tells the EventBus that owns it. */
export interface TransportEvents {
  /** A message on a subscribed filter (any of them: the EventBus matches). */
  message(topic: string, payload: Buffer): void;
  /** The connection came back after a loss; the transport's subscriptions are gone (clean session). */
  reconnected(): void;
}

/**
 * How an EventBus reaches its broker: an MQTT connection (`MqttTransport`), or the embedded broker in the
 * same process with no MQTT at all (`EmbeddedBroker.localTransport()`). The EventBus owns it: it calls
 * `listen`, then `open`, and `close` once at the end.
 */
export interface BusTransport {
  /** Whether messages flow now. */
  readonly connected: boolean;
  /** Publishes held until a reconnect. */
  readonly queued: number;
  /**
   * Whether a message on `topic` would reach any subscriber now; absent when the transport cannot know
   * (an MQTT connection: the broker's subscribers are out of sight).
   */
  heard?(topic: string): boolean;
  /**
   * Whether a message on `topic` would reach any subscriber but the EventBus that owns this transport;
   * absent when the transport cannot know. When false, the EventBus hands its own messages to its own
   * subscriptions directly.
   */
  heardElsewhere?(topic: string): boolean;
  listen(events: TransportEvents): void;
  /**
   * Resolves once connected; rejects with EventBusError `EVENTBUS_REFUSED` (the broker said no) or
   * `EVENTBUS_CONNECT_TIMEOUT` (no answer within `timeoutMs`).
   */
  open(timeoutMs: number): Promise<void>;
  /** Resolves once sent (QoS 0) or acknowledged (QoS 1). */
  publish(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean): Promise<void>;
  /** Resolves to false when the broker refused one of the filters. */
  subscribe(filters: Record<string, 0 | 1>): Promise<boolean>;
  unsubscribe(filter: string): Promise<void>;
  /** Disconnects and releases sockets and timers; operations in flight may never settle. */
  close(): Promise<void>;
}

/** Connection settings of an `MqttTransport`. */
export interface MqttTransportOptions {
  clientId: string;
  username?: string;
  password?: string;
  reconnectPeriodMs: number;
  connectTimeoutMs: number;
}

const CLOSE_GRACE_MS = 2000;

/**
 * mqtt.js, loaded on first use: edgecore on its embedded broker (LocalTransport) never needs it, and it costs
 * ~20 MB of RSS on import.
 */
export const loadMqtt = (): typeof import('mqtt') => createRequire(import.meta.url)('mqtt');

/** An MQTT 3.1.1 connection with mqtt.js: clean session, its reconnects, no resubscription of its own. */
export class MqttTransport implements BusTransport {
  private readonly client: MqttClient;
  private events?: TransportEvents;
  private everConnected = false;
  private closing = false;

  constructor(
    private readonly url: string,
    options: MqttTransportOptions,
    private readonly log: Logger,
  ) {
    const mqttOptions: IClientOptions = {
      protocolVersion: 4,
      clean: true,
      resubscribe: false,
      clientId: options.clientId,
      connectTimeout: options.connectTimeoutMs,
      reconnectPeriod: options.reconnectPeriodMs,
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
    };
    const client = loadMqtt().connect(url, mqttOptions);
    this.client = client;
    client.on('message', (topic, payload) => this.events?.message(topic, payload));
    client.on('error', (error) => log.warn({ url, err: error.message }, 'EventBus connection error'));
    client.on('offline', () => {
      if (!this.closing) log.warn({ url }, 'EventBus offline; reconnecting');
    });
    client.on('connect', () => {
      // As the embedded broker does: no Nagle delay on small, latency-bound packets (a TCP or TLS socket).
      (client.stream as { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true);
      if (this.everConnected) this.events?.reconnected();
      this.everConnected = true;
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  get queued(): number {
    return this.client.queue.length;
  }

  listen(events: TransportEvents): void {
    this.events = events;
  }

  open(timeoutMs: number): Promise<void> {
    const { client, url } = this;
    return new Promise((resolve, reject) => {
      let lastError: Error | undefined;
      const settle = (error?: Error) => {
        clearTimeout(timer);
        client.off('connect', onConnect);
        client.off('error', onError);
        if (error) reject(error);
        else resolve();
      };
      const onConnect = () => settle();
      const onError = (error: Error & { code?: unknown }) => {
        lastError = error;
        if (typeof error.code === 'number')
          settle(
            new EventBusError('EVENTBUS_REFUSED', `${url} refused the connection: ${error.message}`, {
              cause: error,
            }),
          );
      };
      const timer = setTimeout(() => {
        const last = lastError ? ` (last error: ${lastError.message})` : '';
        settle(
          new EventBusError(
            'EVENTBUS_CONNECT_TIMEOUT',
            `no answer (CONNACK) from ${url} within ${timeoutMs} ms${last}`,
          ),
        );
      }, timeoutMs);
      client.on('connect', onConnect);
      client.on('error', onError);
    });
  }

  async publish(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos, retain });
  }

  async subscribe(filters: Record<string, 0 | 1>): Promise<boolean> {
    const wanted = Object.fromEntries(Object.entries(filters).map(([filter, qos]) => [filter, { qos }]));
    const granted = await this.client.subscribeAsync(wanted);
    return !granted.some((g) => g.qos === 128);
  }

  async unsubscribe(filter: string): Promise<void> {
    await this.client.unsubscribeAsync(filter);
  }

  async close(): Promise<void> {
    this.closing = true;
    const { client } = this;
    let timer: NodeJS.Timeout | undefined;
    const ended = client
      .endAsync(!client.connected)
      .catch((e: Error) => this.log.debug({ err: e.message }, 'EventBus end failed'))
      .then(() => streamClosed(client.stream));
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        client.stream?.destroy();
        resolve(streamClosed(client.stream));
      }, CLOSE_GRACE_MS);
    });
    await Promise.race([ended, late]);
    clearTimeout(timer);
    await new Promise(setImmediate); // the socket's handle is released just after its close event
  }
}

/** Resolves once the socket under the client has closed. */
function streamClosed(stream: IStream | undefined): Promise<void> {
  if (!stream || stream.closed) return Promise.resolve();
  return new Promise<void>((resolve) => stream.once('close', () => resolve()));
}
