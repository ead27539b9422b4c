import {
  type MsgTwin,
  type MsgTwinValue,
  sameTwinValue,
  type Twin,
  twinReason,
} from '../device-models/internal.js';

/**
 * The pure rules for `status.twins`: an edge report as a status entry, newer over older, and what a batch of
 * reports changes in what Kubernetes holds. Timestamps alone are no change, nor is another spelling of the same
 * value: a value reported again as it was writes nothing, so `reported.metadata.timestamp` is when the value
 * became what it is.
 */

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** A twin report as a status entry: null deletes it, undefined means nothing to write. */
export function toTwin(name: string, twin: MsgTwin | null | undefined): Twin | null | undefined {
  if (!name) return undefined;
  if (twin === null) return null;
  if (!isObject(twin)) return undefined;
  const type = isObject(twin.metadata) ? twin.metadata.type : undefined;
  if (type === 'deleted') return null;
  const part = (v: MsgTwinValue | null | undefined, withReason: boolean) => {
    if (!isObject(v) || !['string', 'number', 'boolean'].includes(typeof v.value)) return undefined;
    const meta = isObject(v.metadata) ? v.metadata : {};
    const reason = withReason ? twinReason(meta.reason) : undefined;
    const metadata: Record<string, string> = {
      ...(meta.timestamp !== undefined && meta.timestamp !== null
        ? { timestamp: String(meta.timestamp) }
        : {}),
      ...(typeof type === 'string' ? { type } : {}),
      ...(reason ? { reason } : {}),
    };
    return { value: String(v.value), ...(Object.keys(metadata).length > 0 ? { metadata } : {}) };
  };
  const reported = part(twin.actual, true);
  const observedDesired = part(twin.expected, false);
  if (!reported && !observedDesired) return undefined;
  return {
    propertyName: name,
    ...(reported ? { reported } : {}),
    ...(observedDesired ? { observedDesired } : {}),
  };
}

/**
 * A newer entry over an older one, part by part (a report of only `actual` keeps `observedDesired`). Over a
 * deletion, the parts it lacks are set to undefined, so that it also replaces what Kubernetes has (JSON drops
 * them).
 */
export function mergeTwin(older: Twin | null | undefined, newer: Twin | null): Twin | null {
  if (!newer || older === undefined) return newer;
  if (older === null) return { reported: undefined, observedDesired: undefined, ...newer };
  return { ...older, ...newer };
}

type Part = Twin['reported'];

const samePart = (a: Part, b: Part): boolean =>
  a === b ||
  (a !== undefined &&
    b !== undefined &&
    a.metadata?.type === b.metadata?.type &&
    sameTwinValue(a.metadata?.type, a.value, b.value) &&
    a.metadata?.reason === b.metadata?.reason);

/**
 * Whether two entries say the same: each part's type, reason and value compared by type ("21" and "21.0" are
 * one float); timestamps aside.
 */
export function sameTwin(a: Twin | undefined, b: Twin | undefined): boolean {
  return samePart(a?.reported, b?.reported) && samePart(a?.observedDesired, b?.observedDesired);
}

/** A desired value the device does not hold, with the edge's reason, newly reported. */
export interface Refusal {
  property: string;
  reason: string;
  desired?: string;
  reported: string;
}

export interface TwinChanges {
  /** Every twin, as Kubernetes will hold them once written (in the order Kubernetes had them, new ones last). */
  twins: Map<string, Twin>;
  /** Whether anything differs from `current`. */
  changed: boolean;
  /** Properties whose entry goes. */
  deleted: string[];
  /**
   * Properties whose entry loses a part it had (`observedDesired`, a `metadata`): a deletion and a new report
   * merged into one write. (Kubernetes 1.20's server-side apply leaves a null where a manager's map was, which
   * validation then refuses; such an entry is removed first and applied anew.)
   */
  replaced: string[];
  /** Reported values that came with a reason they did not have before. */
  refusals: Refusal[];
}

/** What `updates` (newest per property, null to delete) make of the twins Kubernetes holds (`current`). */
export function applyTwinUpdates(
  current: ReadonlyMap<string, Twin>,
  updates: ReadonlyMap<string, Twin | null>,
): TwinChanges {
  const twins = new Map(current);
  const deleted: string[] = [];
  const replaced: string[] = [];
  const refusals: Refusal[] = [];
  let changed = false;
  for (const [name, update] of updates) {
    const before = current.get(name);
    if (!update) {
      if (twins.delete(name)) {
        deleted.push(name);
        changed = true;
      }
      continue;
    }
    const after = withoutUndefined(mergeTwin(before, update) as Twin);
    if (before && sameTwin(before, after)) continue;
    twins.set(name, after);
    changed = true;
    if (before && lostPart(before, after)) replaced.push(name);
    const reason = after.reported?.metadata?.reason;
    if (reason && reason !== before?.reported?.metadata?.reason)
      refusals.push({
        property: name,
        reason,
        reported: after.reported?.value ?? '',
        ...(after.observedDesired ? { desired: after.observedDesired.value } : {}),
      });
  }
  return { twins, changed, deleted, replaced, refusals };
}

/** Whether `after` lacks a part (or a part's metadata) that `before` has. */
function lostPart(before: Twin, after: Twin): boolean {
  return (['reported', 'observedDesired'] as const).some(
    (part) => (before[part] && !after[part]) || (before[part]?.metadata && !after[part]?.metadata),
  );
}

/** An entry without the parts a deletion left undefined (the API client would send them as null). */
const withoutUndefined = (twin: Twin): Twin =>
  Object.fromEntries(Object.entries(twin).filter(([, v]) => v !== undefined)) as Twin;

/** The twins of a status as read from Kubernetes, by property (entries without a name are not ours to keep). */
export function twinsOf(status: unknown): Map<string, Twin> {
  const listed: unknown[] = isObject(status) && Array.isArray(status.twins) ? status.twins : [];
  return new Map(
    listed.flatMap((t) =>
      isObject(t) && typeof t.propertyName === 'string' ? [[t.propertyName, t as Twin] as const] : [],
    ),
  );
}
