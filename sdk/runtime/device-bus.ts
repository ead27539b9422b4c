import type { DeviceState } from '../../device-models/index.js';

/** A reported value as KubeEdge's twin carries it: the string and the lower-case type name. */
export interface ReportedValue {
  value: string;
  type: string;
}

/**
 * What the device runtime needs from the EventBus. `EventBus` (sdk/eventbus) implements it; so can anything
 * else that speaks KubeEdge's topics.
 */
export interface DeviceBus {
  /** `$hw/events/device/{id}/twin/update` with `actual` values. */
  reportActual(id: string, values: Record<string, ReportedValue>): Promise<void>;
  /** `$hw/events/device/{id}/state/update`. */
  publishState(id: string, state: DeviceState): Promise<void>;
  /** `$hw/events/device/{id}/twin/update/delta`: desired values that differ from the reported ones. */
  onDelta(
    id: string,
    handler: (id: string, message: { delta?: Record<string, string> }) => void | Promise<void>,
  ): Promise<() => Promise<void>>;
}
