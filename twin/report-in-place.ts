import {
  type MsgTwin,
  type MsgTwinMap,
  sameTwinValue,
  setOwn,
  twinReason,
} from '../device-models/internal.js';
import { DEFAULT_TYPE, isDeleted, own, valueProblem, ZERO } from './rules-validate.js';
import type { DeviceTwins } from './types.js';

/**
 * A mapper's report applied to the twins themselves, with what `applyUpdate` would make of it but without
 * making it anew. A device that reports every property every second would otherwise replace each of its twins
 * every second; the replaced ones live about that long, so V8's young generation copies them and promotes them
 * to the old one, where only a full collection frees them. On an edge of 1,000 devices that was the larger part
 * of the edge's garbage collection. Here a twin is copied once, on its first such report (into `owned`: twins
 * made here, whose `actual`, its metadata and `actual_version` no one else holds), and later reports write
 * into that copy.
 *
 * Only a plain report qualifies, one whose outcome is that and nothing else: every twin it names is live, one
 * with a desired value stays as far from it as it was (pending, or caught up: the delta cannot change), and the
 * report carries an actual value and no expected value, no `optional: false` that is not already so, no
 * `if_expected_version`, no deletion, and each value is one of its twin's type (checkUpdate's test; a value the twin already holds passed it then). Anything else returns
 * undefined and changes nothing, for `applyUpdate` to take (or refuse). The keys need no test: only twins
 * that exist qualify, and every one was made under a key checkUpdate took.
 *
 * Returns the changed twins (the ones now in `twins`), in the update's order. The caller must be the twins'
 * only writer and hand them out only to readers that do not keep them (the store encodes them when it commits
 * them, listeners and published messages read them at once).
 */
export function reportInPlace(
  twins: DeviceTwins,
  update: MsgTwinMap,
  now: number,
  owned: WeakSet<MsgTwin>,
): Record<string, MsgTwin> | undefined {
  let any = false;
  for (const key in update) {
    if (!Object.hasOwn(update, key)) continue;
    any = true;
    const incoming = update[key];
    const existing = own(twins, key);
    if (typeof incoming !== 'object' || !incoming || !existing || isDeleted(existing)) return undefined;
    if (incoming.expected !== undefined || incoming.if_expected_version != null) return undefined;
    if (incoming.optional === false && existing.optional !== false) return undefined;
    const value = incoming.actual?.value;
    if (typeof value !== 'string') return undefined;
    const held = existing.actual?.value;
    if (value === held) continue; // of its type, and no change for the delta
    const type = existing.metadata?.type;
    if (valueProblem(incoming.actual, type ?? DEFAULT_TYPE)) return undefined;
    // A twin with a desired value: the report must leave it pending, or caught up, as it was.
    const expected = existing.expected?.value;
    if (expected != null && expected !== '')
      if (sameTwinValue(type, expected, value) !== sameTwinValue(type, expected, held ?? ''))
        return undefined;
  }
  if (!any) return undefined; // nothing to write: applyUpdate's (an empty result)
  const changed: Record<string, MsgTwin> = {};
  for (const key in update) {
    if (!Object.hasOwn(update, key)) continue;
    const actual = update[key]!.actual!;
    const value = actual.value as string;
    const reason = twinReason(actual.metadata?.reason);
    let twin = twins[key]!;
    if (owned.has(twin)) write(twin, value, reason, now);
    else {
      const version = twin.actual_version ?? ZERO;
      twin = {
        ...twin,
        actual: { value, metadata: reason ? { timestamp: now, reason } : { timestamp: now } },
        actual_version: { cloud: version.cloud, edge: version.edge + 1 },
      };
      owned.add(twin);
      setOwn(twins, key, twin);
    }
    setOwn(changed, key, twin);
  }
  return changed;
}

/** The next report into a twin made by reportInPlace: the same string kept when the value did not change. */
function write(twin: MsgTwin, value: string, reason: string | undefined, now: number): void {
  const actual = twin.actual!;
  if (actual.value !== value) actual.value = value;
  const metadata = actual.metadata!;
  if (metadata.reason === reason) metadata.timestamp = now;
  else actual.metadata = reason ? { timestamp: now, reason } : { timestamp: now };
  twin.actual_version!.edge++;
}
