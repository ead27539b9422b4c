import type { MsgTwin, MsgTwinMap } from '../device-models/index.js';

/**
 * A device's twin as the edge keeps it: one KubeEdge MsgTwin per property (expected/actual with their
 * timestamps, versions, optional, metadata.type). The same shape travels on the EventBus, so nothing is
 * converted between the store, the rules and the topics.
 */
export type DeviceTwins = Record<string, MsgTwin>;

/** Who sent an update: a mapper/app at the edge, or cloudcore (a cloud sync). */
export type UpdateSource = 'edge' | 'cloud';

export interface ApplyOptions {
  source: UpdateSource;
  /** ms since the epoch, stamped on changed values. */
  now: number;
}

/** What an accepted update produces, in the order KubeEdge publishes it. */
export interface Applied {
  ok: true;
  /** The device's twins after the update (unchanged properties included). */
  twins: DeviceTwins;
  /** The changed twins, for `…/twin/update/result` (null: deleted). */
  result: MsgTwinMap;
  /**
   * `…/twin/update/document`: last and current of each twin whose value, type or `optional` changed (not one
   * that only got a new timestamp and version, as a repeated value does; empty: nothing to publish).
   */
  document: Record<string, { last: MsgTwin | null; current: MsgTwin | null }>;
  /** `…/twin/update/delta`: expected value of every twin whose expected ≠ actual (all twins, not only changed). */
  delta: Record<string, string>;
  /** What to send to the cloud (the changed twins with their versions); empty when nothing is cloud-bound. */
  sync: MsgTwinMap;
  /** Cloud sync only: properties refused because the edge holds a newer version (the edge wins). */
  rejected: string[];
}

export interface Refused {
  ok: false;
  /** 400 bad key/value/type, 409 a stale opt-in `if_expected_version` (an edge update's). */
  code: 400 | 409;
  reason: string;
}

export type ApplyResult = Applied | Refused;

/** One point of a twin's history of reported values (TwinStore.history). */
export interface HistoryPoint {
  /** ms since the epoch: the reported value's metadata timestamp, else when the store was given it. */
  t: number;
  /** The value as the twin holds it. */
  v: string;
}

/** Which points TwinStore.history returns. */
export interface HistoryQuery {
  /** Only points at or after this time, ms since the epoch. */
  since?: number;
  /** The newest this many of them (default 1000, at most 10,000). */
  limit?: number;
}
