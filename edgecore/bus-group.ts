import type { TSchema } from '@sinclair/typebox';
import type { EventBus, PublishOptions, SubscribeOptions } from '../sdk/index.js';

/** What edgecore's modules use of the EventBus. */
export type EdgeBus = Pick<EventBus, 'publish' | 'subscribe' | 'connected' | 'heard'>;

/**
 * KubeEdge's `both` mode: the twin listens on the embedded broker (mappers) and on the external one (apps),
 * and what it publishes goes to both. With one bus it is that bus.
 */
export class BusGroup implements EdgeBus {
  constructor(private readonly buses: readonly EventBus[]) {}

  get connected(): boolean {
    return this.buses.every((b) => b.connected);
  }

  heard(topic: string): boolean {
    return this.buses.some((b) => b.heard(topic));
  }

  async publish(topic: string, payload: unknown, options?: PublishOptions): Promise<void> {
    await Promise.all(this.buses.map((b) => b.publish(topic, payload, options)));
  }

  subscribe: EventBus['subscribe'] = async <S extends TSchema>(
    filter: string,
    schema: S,
    handler: Parameters<EventBus['subscribe']>[2],
    options?: SubscribeOptions,
  ) => {
    const unsubscribes = await Promise.all(
      this.buses.map((b) => b.subscribe(filter, schema, handler as never, options)),
    );
    return async () => {
      await Promise.all(unsubscribes.map((u) => u()));
    };
  };
}
