import type { ResolvedDevice } from '../device-models/index.js';
import type { Logger } from '../sdk/index.js';
import type { TwinStore } from '../twin/store.js';
import type { EdgeBus } from './bus-group.js';
import type { EdgeConfig } from './config.js';
import type { EdgeMetrics } from './metrics.js';

/** What every edgecore module is given (STYLE principle 5): one context object. */
export interface EdgeContext {
  config: EdgeConfig;
  /** The EventBus (in `both` mode, the embedded and the external broker together). */
  bus: EdgeBus;
  store: TwinStore;
  log: Logger;
  metrics: EdgeMetrics;
  /** The devices this node runs, by id, kept current by the metadata module. */
  devices: Map<string, ResolvedDevice>;
  /** The link to cloudcore, when this node has joined one (EdgeHub). */
  cloud?: CloudLink;
}

/** What the twin module tells the cloud link. */
export interface CloudLink {
  readonly connected: boolean;
  /** A cloud-bound sync was committed to the outbox. */
  notifyOutbox(): void;
  notifyState(id: string, state: string, lastOnlineTime?: string): void;
}
