import type { DeviceState, MsgTwinMap } from '../../device-models/index.js';

/** A reported value as KubeEdge's twin carries it: the string and the lower-case type name. */
export interface ReportedValue {
  value: string;
  type: string;
  /**
   * Beyond KubeEdge: why the device holds this value rather than the desired one (e.g. the register's
   * resolution). Sent as `actual.metadata.reason`, cut to TWIN_REASON_MAX_LENGTH; a report without one clears it.
   */
  reason?: string;
}

/**
 * What a `…/twin/update/delta` gives the runtime: `delta` (property → expected value) and `twin` (every live
 * twin with an expected value, with the `expected_version` each desired value belongs to). EventBus delivers the whole TwinDelta payload,
 * which is one of these.
 */
export interface DeltaMessage {
  delta?: Record<string, string>;
  twin?: MsgTwinMap;
}

/**
 * What the device runtime needs from the EventBus. `EventBus` (sdk/eventbus) implements it; so can anything
 * else that speaks KubeEdge's topics.
 */
export interface DeviceBus {
  /** `$hw/events/device/{id}/twin/update` with `actual` values (and their reasons, if any). */
  reportActual(id: string, values: Record<string, ReportedValue>): Promise<void>;
  /** `$hw/events/device/{id}/state/update`. */
  publishState(id: string, state: DeviceState): Promise<void>;
  /** `$hw/events/device/{id}/twin/update/delta`: desired values that differ from the reported ones. */
  onDelta(
    id: string,
    handler: (id: string, message: DeltaMessage) => void | Promise<void>,
  ): Promise<() => Promise<void>>;
  /**
   * `$hw/events/device/{id}/twin/get` → `…/twin/get/result`: every twin of the device now (desired values
   * set while nobody listened included), or undefined when the twin module does not know the device (404).
   * Rejects when no answer comes within `timeoutMs` (default 5000), on any other error result, and when
   * the bus closes first.
   */
  getTwins(id: string, timeoutMs?: number): Promise<MsgTwinMap | undefined>;
}
