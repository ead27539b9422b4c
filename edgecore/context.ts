import type { ResolvedDevice } from '../device-models/index.js';
import type { EventBus, Logger } from '../sdk/index.js';
import type { TwinStore } from '../twin/store.js';
import type { EdgeConfig } from './config.js';
import type { EdgeMetrics } from './metrics.js';

/** What every edgecore module is given (STYLE principle 5): one context object. */
export interface EdgeContext {
  config: EdgeConfig;
  bus: EventBus;
  store: TwinStore;
  log: Logger;
  metrics: EdgeMetrics;
  /** The devices this node runs, by id, kept current by the metadata module. */
  devices: Map<string, ResolvedDevice>;
}
