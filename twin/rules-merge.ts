import {
  type MsgTwin,
  type MsgTwinValue,
  type MsgTwinVersion,
  PROPERTY_TYPES,
  type PropertyType,
  type TwinType,
  twinReason,
  twinTypeNamed,
  twinTypeOf,
} from '../device-models/internal.js';
import { DEFAULT_TYPE, DELETED, isDeleted, PARTS, ZERO } from './rules-validate.js';

/**
 * How one property's update merges into its twin, per KubeEdge's edge/pkg/devicetwin/dtmanager/twin.go
 * (dealTwinAdd, dealTwinCompare, dealTwinDelete, dealVersion). Inputs are already validated
 * (rules-validate.ts) and are never modified: a change returns a new twin, no change returns undefined.
 */

export interface CloudMerge {
  /** The new twin, or undefined when nothing changed. */
  twin?: MsgTwin;
  /** A part was refused because the edge holds a newer version (the edge wins). */
  rejected: boolean;
}

/**
 * An edge update (KubeEdge's RestDealType). Each part that carries a value is written, bumping its
 * version's `edge` by one and stamping `now`. Like KubeEdge, the value is not compared with the current one:
 * isTwinValueDiff only validates it, so writing the same value again is still a write (new timestamp,
 * version bump, and an entry in result, document and the cloud sync).
 * Beyond KubeEdge, an actual value keeps the `metadata.reason` it came with (cut to its maximum length), so
 * an actual without one clears the previous reason; every other metadata key is dropped, as in KubeEdge.
 */
export function mergeEdge(existing: MsgTwin | undefined, incoming: MsgTwin | null, now: number) {
  if (incoming === null) return existing && !isDeleted(existing) ? softDelete(existing) : undefined;
  const base = start(existing, incoming);
  const expected = incoming.expected?.value;
  const actual = incoming.actual?.value;
  if (expected == null && actual == null) {
    const final = dropOptional(base, incoming);
    return final !== existing ? final : undefined;
  }
  // One copy per write (a mapper's report of every property, every cycle), keys in the order KubeEdge's are.
  const next: MsgTwin = { ...base };
  if (expected != null) {
    next.expected = { value: expected, metadata: { timestamp: now } };
    next.expected_version = bump(existing?.expected_version ?? ZERO);
  }
  if (actual != null) {
    const reason = twinReason(incoming.actual?.metadata?.reason);
    const written: MsgTwinValue = {
      value: actual,
      metadata: reason ? { timestamp: now, reason } : { timestamp: now },
    };
    next.actual = written;
    next.actual_version = bump(existing?.actual_version ?? ZERO);
  }
  if (incoming.optional === false) next.optional = false;
  return next;
}

/**
 * A cloud sync (KubeEdge's SyncDealType). A part is taken with the incoming value and version unless the
 * local version is newer in `cloud` or `edge` (dealVersion); a missing incoming version counts as
 * {cloud: 0, edge: 0}. A refused part keeps the edge's value, and `optional` and the type are then left
 * alone too, as dealTwinCompare does once a part is refused.
 */
export function mergeCloud(existing: MsgTwin | undefined, incoming: MsgTwin, now: number): CloudMerge {
  if (incoming.metadata?.type === DELETED) return deleteFromCloud(existing, incoming);
  let next = start(existing, incoming);
  let wrote = false;
  let rejected = false;
  for (const part of PARTS) {
    const value = incoming[part.value]?.value;
    if (value == null) continue;
    const version = incoming[part.version] ?? ZERO;
    if (newer(existing?.[part.version], version)) {
      rejected = true;
      continue;
    }
    next = {
      ...next,
      [part.value]: { value, metadata: { timestamp: now } },
      [part.version]: { cloud: version.cloud, edge: version.edge },
    };
    wrote = true;
  }
  if (rejected) return wrote ? { twin: next, rejected } : { rejected };
  const final = dropOptional(next, incoming);
  return final !== existing ? { twin: final, rejected } : { rejected };
}

/**
 * The twin an update starts from: a new twin (optional unless told otherwise and typed `string` unless
 * told otherwise, as dealTwinAdd does), a deleted twin revived with the incoming type, or the existing
 * twin itself (same object: nothing changed yet; a live twin keeps its type, as in dealTwinCompare).
 */
function start(existing: MsgTwin | undefined, incoming: MsgTwin): MsgTwin {
  if (existing && !isDeleted(existing)) return existing;
  const metadata = typeOf(incoming.metadata);
  return existing ? { ...existing, metadata } : { optional: incoming.optional ?? true, metadata };
}

/**
 * A new twin's type, from KubeEdge's set (rules-validate refused any other name), with the finer model type
 * the update gave (or its lower-case name implied, as `double` does) when it fits. Any other metadata key is
 * dropped, as KubeEdge's TypeMetadata drops them.
 */
function typeOf(metadata: MsgTwin['metadata']): TwinType {
  const named = twinTypeNamed(metadata?.type) ?? { type: DEFAULT_TYPE };
  const model = metadata?.modelType;
  if (named.modelType !== undefined || !PROPERTY_TYPES.includes(model as PropertyType)) return named;
  const fits = twinTypeOf(model as PropertyType);
  return fits.modelType !== undefined && fits.type === named.type ? fits : named;
}

/** `optional` only ever goes from true to false (dealTwinCompare); false → true is ignored. */
function dropOptional(twin: MsgTwin, incoming: MsgTwin): MsgTwin {
  return incoming.optional === false && twin.optional !== false ? { ...twin, optional: false } : twin;
}

/** Deleted at the edge: values gone, type `deleted`, each existing version bumped (dealTwinDelete). */
function softDelete(existing: MsgTwin): MsgTwin {
  let twin = tombstone(existing);
  for (const part of PARTS) {
    const version = existing[part.version];
    if (version != null) twin = { ...twin, [part.version]: bump(version) };
  }
  return twin;
}

/** The twin without its values and typed `deleted`; versions and `optional` are kept. */
function tombstone(existing: MsgTwin): MsgTwin {
  const { expected: _expected, actual: _actual, ...rest } = existing;
  return { ...rest, metadata: { ...existing.metadata, type: DELETED } };
}

/**
 * A delete from the cloud applies whatever `optional` says (cloudcore creates its twins non-optional, so
 * it could not delete any otherwise). A missing incoming version keeps the local one, as
 * SyncTwinDeleteDealType does; a newer local version refuses the whole delete.
 */
function deleteFromCloud(existing: MsgTwin | undefined, incoming: MsgTwin): CloudMerge {
  if (!existing || isDeleted(existing)) return { rejected: false };
  const rejected = PARTS.some((part) => {
    const version = incoming[part.version];
    return version != null && newer(existing[part.version], version);
  });
  if (rejected) return { rejected };
  let twin = tombstone(existing);
  for (const part of PARTS) {
    const version = incoming[part.version];
    if (version != null) twin = { ...twin, [part.version]: { cloud: version.cloud, edge: version.edge } };
  }
  return { twin, rejected };
}

function bump(version: MsgTwinVersion): MsgTwinVersion {
  return { cloud: version.cloud, edge: version.edge + 1 };
}

/** dealVersion's test: the local version is newer when either counter is ahead. */
function newer(local: MsgTwinVersion | null | undefined, incoming: MsgTwinVersion): boolean {
  const mine = local ?? ZERO;
  return mine.cloud > incoming.cloud || mine.edge > incoming.edge;
}
