import { type MsgTwin, type MsgTwinMap, sameTwinValue, setOwn } from '../device-models/internal.js';
import { mergeCloud, mergeEdge } from './rules-merge.js';
import { checkUpdate, isDeleted, own } from './rules-validate.js';
import type { Applied, ApplyOptions, ApplyResult, DeviceTwins } from './types.js';

/**
 * KubeEdge's DeviceTwin rules (edge/pkg/devicetwin/dtmanager/twin.go) as pure functions over plain data:
 * no clock (options.now), no I/O, and the inputs are never modified. The caller persists `twins` and
 * publishes result → document → delta, then sends `sync` to the cloud.
 *
 * - An edge update (a mapper, an app, the HTTP API) bumps the `edge` counter of each part it writes.
 * - A cloud sync takes the cloud's values and versions, except for parts where the edge holds a newer
 *   version: those are `rejected` and the edge's state goes back to the cloud in `sync`.
 * - `null` from the edge, or `metadata.type: deleted` from the cloud, soft-deletes a twin.
 * - A live twin keeps its type, and versions on an edge update are ignored, as in KubeEdge.
 * - Beyond KubeEdge: an edge update whose twin carries `if_expected_version` is refused with 409 unless that
 *   is still the twin's `expected_version` (opt-in, as AWS IoT shadows do), and bad keys, types and values
 *   refuse the whole update with 400 for both sources (KubeEdge applies a cloud sync's good twins).
 */
export function applyUpdate(current: DeviceTwins, update: MsgTwinMap, options: ApplyOptions): ApplyResult {
  const refused = checkUpdate(current, update, options.source);
  if (refused) return refused;

  // One pass: a mapper reports every property of a device every cycle, so this runs ~10 000 times a second
  // on a large edge; each map is built as it goes instead of from intermediate entry lists.
  const twins: DeviceTwins = { ...current };
  const result: MsgTwinMap = {};
  const document: Applied['document'] = {};
  const sync: MsgTwinMap = {};
  const rejected: string[] = [];
  const edge = options.source === 'edge';
  for (const key in update) {
    if (!Object.hasOwn(update, key)) continue;
    const incoming = update[key]!;
    const existing = own(current, key);
    let twin: MsgTwin | undefined;
    if (edge) twin = mergeEdge(existing, incoming, options.now);
    else if (incoming !== null) {
      const merged = mergeCloud(existing, incoming, options.now);
      twin = merged.twin;
      if (merged.rejected) rejected.push(key);
    }
    if (!twin) continue;
    setOwn(twins, key, twin);
    const next = visible(twin);
    setOwn(result, key, next);
    const last = visible(existing);
    if (!sameShown(last, next)) setOwn(document, key, { last, current: next });
    // Edge updates: every changed twin, with its versions, deleted ones included (the cloud needs the
    // versions to apply the delete).
    if (edge) setOwn(sync, key, twin);
  }
  // Cloud syncs: the edge's state of each rejected twin, which KubeEdge sends back to the cloud on
  // `edge_updated` so the cloud catches up with the edge.
  for (const key of rejected) {
    const twin = own(twins, key);
    if (twin) setOwn(sync, key, twin);
  }
  return { ok: true, twins, result, document, delta: computeDelta(twins), sync, rejected };
}

/**
 * `…/twin/update/delta`'s `delta`, over all twins (BuildDeviceTwinDelta): the expected value of every twin
 * that is not deleted, has a non-empty expected value, and whose actual value differs (or is missing).
 * Unlike KubeEdge, which compares the strings, values are compared by the twin's type (sameTwinValue):
 * a desired "24" that the device reports as "24.0", or a desired "true" reported as "1", is no delta.
 */
export function computeDelta(twins: DeviceTwins): Record<string, string> {
  const delta: Record<string, string> = {};
  for (const key in twins) {
    const twin = twins[key]!;
    if (!Object.hasOwn(twins, key) || isDeleted(twin)) continue;
    const expected = twin.expected?.value;
    if (expected == null || expected === '') continue;
    if (!sameTwinValue(twin.metadata?.type, expected, twin.actual?.value ?? '')) setOwn(delta, key, expected);
  }
  return delta;
}

/**
 * The twin map `…/twin/get/result` carries: every twin except the deleted ones. Unlike KubeEdge, which
 * strips `expected_version`/`actual_version` from what it publishes at the edge, the versions are kept:
 * a writer needs `expected_version` for an opt-in `if_expected_version`, and KubeEdge's decoders read them
 * into MsgTwin's own fields, which nothing there acts on.
 */
export function snapshot(twins: DeviceTwins): MsgTwinMap {
  return Object.fromEntries(Object.entries(twins).filter(([, twin]) => !isDeleted(twin)));
}

/**
 * The twin map `…/twin/update/delta` carries, as KubeEdge's BuildDeviceTwinDelta builds it: every twin that
 * is not deleted and has an expected value (versions kept, as in snapshot: the device runtime writes a
 * desired value once per `expected_version`).
 */
export function deltaTwins(twins: DeviceTwins): MsgTwinMap {
  return Object.fromEntries(
    Object.entries(twins).filter(([, twin]) => !isDeleted(twin) && twin.expected != null),
  );
}

/**
 * Whether a document entry would tell nothing: the same values (expected, actual and the reason given with
 * it), type and `optional` before and after, only timestamps and versions moved (a mapper repeating the
 * value it read; KubeEdge publishes those too, since isTwinValueDiff never compares).
 */
function sameShown(last: MsgTwin | null, next: MsgTwin | null): boolean {
  if (last === null || next === null) return last === next;
  return (
    last.expected?.value === next.expected?.value &&
    last.actual?.value === next.actual?.value &&
    last.actual?.metadata?.reason === next.actual?.metadata?.reason &&
    last.optional === next.optional &&
    last.metadata?.type === next.metadata?.type
  );
}

/** A twin as result and document show it: null when absent or deleted. */
function visible(twin: MsgTwin | undefined): MsgTwin | null {
  return twin && !isDeleted(twin) ? twin : null;
}
