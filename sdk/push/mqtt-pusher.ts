import type { MqttClient } from 'mqtt';
import type { PushMethod } from '../../device-models/index.js';
import { loadMqtt } from '../eventbus/transport.js';
import type { Logger } from '../logger.js';
import type { Pusher, PushSample } from './index.js';
import { PUSH_QUEUE_LIMIT } from './index.js';

type MqttMethod = NonNullable<PushMethod['mqtt']>;

/** Publishes each sample as JSON to `topic` on the broker at `address` (tcp:// or mqtt://). */
export class MqttPusher implements Pusher {
  private readonly client: MqttClient;
  private dropped = 0;

  constructor(
    private readonly method: MqttMethod,
    private readonly log: Logger,
  ) {
    const url = (method.address ?? 'mqtt://127.0.0.1:1883').replace(/^tcp:\/\//, 'mqtt://');
    this.client = loadMqtt().connect(url, { protocolVersion: 4, reconnectPeriod: 2000, queueQoSZero: false });
    this.client.on('error', (error) => log.warn({ err: error.message, url }, 'push broker error'));
  }

  push(sample: PushSample): void {
    const queued = this.client.queue.length;
    if (queued >= PUSH_QUEUE_LIMIT) {
      if (this.dropped++ % 100 === 0)
        this.log.warn({ dropped: this.dropped }, 'mqtt push queue full; dropping');
      return;
    }
    const topic = this.method.topic || `${sample.namespace}/${sample.deviceName}/${sample.propertyName}`;
    const qos = (this.method.qos ?? 0) as 0 | 1 | 2;
    this.client.publish(
      topic,
      JSON.stringify(sample),
      { qos, retain: this.method.retained ?? false },
      (error) => {
        if (error) this.log.debug({ err: error.message }, 'mqtt push failed');
      },
    );
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}
