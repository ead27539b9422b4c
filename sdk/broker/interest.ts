import type { Aedes, Client } from 'aedes';
import { TopicRouter } from '../eventbus/topic-router.js';

/** How many topics' matches BrokerInterest remembers: a few per device of a large edge. */
const MATCHES_KEPT = 16_384;

interface Holder {
  owner: string;
  filter: string;
}

/**
 * Which topics anyone on the embedded broker can receive: the filters of its MQTT clients (from aedes's
 * `subscribe`/`unsubscribe`/`clientDisconnect` events) and of the in-process buses (told directly). A
 * client with a persistent session (clean = false) keeps its filters while it is away, as aedes queues
 * QoS 1 messages for it. What it answers errs on the side of "heard": a message is only ever skipped when
 * no filter at all matches its topic. Lookups cost the same however many subscriptions there are.
 */
export class BrokerInterest {
  private readonly router = new TopicRouter<Holder>();
  private readonly holders = new Map<string, Holder>();
  private readonly byOwner = new Map<string, Set<string>>();
  private readonly matches = new Map<string, readonly Holder[]>();

  constructor(broker: Aedes) {
    broker.on('subscribe', (subscriptions, client) => {
      for (const { topic, qos } of subscriptions)
        if ((qos as number) !== 128) this.add(clientKey(client), topic); // 128: refused
    });
    broker.on('unsubscribe', (filters, client) => {
      for (const filter of filters) this.remove(clientKey(client), filter);
    });
    broker.on('clientDisconnect', (client) => {
      if (client.clean !== false) this.drop(clientKey(client));
    });
  }

  /** Whether a message on `topic` would reach anyone. */
  heard(topic: string): boolean {
    return this.holdersOf(topic).length > 0;
  }

  /** Whether a message on `topic` would reach anyone but `owner`. */
  heardBeyond(topic: string, owner: string): boolean {
    for (const holder of this.holdersOf(topic)) if (holder.owner !== owner) return true;
    return false;
  }

  /**
   * The holders whose filter matches `topic`, remembered until a filter comes or goes: the twin asks about
   * the same few topics of every device every cycle (its result, document, delta), and subscriptions change
   * rarely. At most MATCHES_KEPT topics are remembered; past that the memory starts over.
   */
  private holdersOf(topic: string): readonly Holder[] {
    let holders = this.matches.get(topic);
    if (holders === undefined) {
      holders = this.router.match(topic);
      if (this.matches.size >= MATCHES_KEPT) this.matches.clear();
      this.matches.set(topic, holders);
    }
    return holders;
  }

  add(owner: string, filter: string): void {
    const key = `${owner}\u0000${filter}`;
    if (this.holders.has(key)) return;
    const holder = { owner, filter };
    this.holders.set(key, holder);
    this.router.add(filter, holder);
    this.matches.clear();
    let filters = this.byOwner.get(owner);
    if (!filters) {
      filters = new Set();
      this.byOwner.set(owner, filters);
    }
    filters.add(filter);
  }

  remove(owner: string, filter: string): void {
    const key = `${owner}\u0000${filter}`;
    const holder = this.holders.get(key);
    if (!holder) return;
    this.holders.delete(key);
    this.router.remove(filter, holder);
    this.matches.clear();
    const filters = this.byOwner.get(owner);
    filters?.delete(filter);
    if (filters?.size === 0) this.byOwner.delete(owner);
  }

  /** Forgets every filter of `owner`. */
  drop(owner: string): void {
    for (const filter of [...(this.byOwner.get(owner) ?? [])]) this.remove(owner, filter);
  }
}

function clientKey(client: Client): string {
  return `client:${client.id}`;
}
