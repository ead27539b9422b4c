import type { Aedes, AedesPublishPacket } from 'aedes';
import { EventBusError } from '../eventbus/topics.js';
import type { BusTransport, TransportEvents } from '../eventbus/transport.js';
import type { BrokerInterest } from './interest.js';

/**
 * An EventBus in the embedded broker's own process, with no MQTT between them: publishes go into aedes as
 * its own (`aedes.publish`), subscriptions are aedes's in-process ones. MQTT clients of the broker see and
 * reach this bus exactly as they would a connected client (same topics, payloads, QoS to them, retained
 * messages stored), but nothing is encoded, parsed, acknowledged or copied through a socket or stream in
 * between. It has no client id and no credentials: it is the broker's process. A subscription does not
 * receive retained messages (edgecore's modules never wait for one).
 */
export class LocalTransport implements BusTransport {
  private events?: TransportEvents;
  private readonly filters = new Set<string>();
  private ended = false;
  /**
   * aedes calls every matching subscription with the same packet, one after the other: overlapping filters
   * deliver it once, as the EventBus matches its own subscriptions itself.
   */
  private last: AedesPublishPacket | undefined;
  private readonly deliver = (packet: AedesPublishPacket, done: () => void) => {
    if (packet !== this.last && !this.ended) {
      this.last = packet;
      this.events?.message(packet.topic, packet.payload as Buffer);
    }
    done();
  };

  private static next = 0;
  /** This bus's name in the broker's interest (it has no client id). */
  private readonly owner = `local:${LocalTransport.next++}`;

  constructor(
    private readonly broker: Aedes,
    private readonly interest: BrokerInterest,
  ) {}

  get connected(): boolean {
    return !this.ended && !this.broker.closed;
  }

  get queued(): number {
    return 0;
  }

  /** Whether anyone on the broker (an MQTT client, an in-process bus) would receive a message on `topic`. */
  heard(topic: string): boolean {
    return this.interest.heard(topic);
  }

  /** Whether anyone but this transport's own bus would receive a message on `topic`. */
  heardElsewhere(topic: string): boolean {
    return this.interest.heardBeyond(topic, this.owner);
  }

  listen(events: TransportEvents): void {
    this.events = events;
  }

  async open(): Promise<void> {
    if (!this.connected) throw new EventBusError('EVENTBUS_REFUSED', 'the embedded broker is stopped');
  }

  publish(topic: string, payload: Buffer, qos: 0 | 1, retain: boolean): Promise<void> {
    if (!this.connected) return Promise.reject(stopped());
    return new Promise((resolve, reject) =>
      this.broker.publish({ cmd: 'publish', topic, payload, qos, retain, dup: false }, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  }

  async subscribe(filters: Record<string, 0 | 1>): Promise<boolean> {
    if (!this.connected) throw stopped();
    const added = Object.keys(filters).filter((filter) => !this.filters.has(filter));
    for (const filter of added) {
      this.filters.add(filter);
      this.interest.add(this.owner, filter);
    }
    await Promise.all(
      added.map(
        (filter) => new Promise<void>((resolve) => this.broker.subscribe(filter, this.deliver, resolve)),
      ),
    );
    return true;
  }

  async unsubscribe(filter: string): Promise<void> {
    if (!this.filters.delete(filter)) return;
    this.interest.remove(this.owner, filter);
    if (this.broker.closed) return;
    await new Promise<void>((resolve) => this.broker.unsubscribe(filter, this.deliver, resolve));
  }

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.interest.drop(this.owner);
    if (this.broker.closed) return;
    await Promise.all(
      [...this.filters].map(
        (filter) => new Promise<void>((resolve) => this.broker.unsubscribe(filter, this.deliver, resolve)),
      ),
    );
    this.filters.clear();
  }
}

function stopped(): EventBusError {
  return new EventBusError('EVENTBUS_CLOSED', 'the embedded broker is stopped');
}
