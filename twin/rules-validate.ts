import {
  type MsgTwin,
  type MsgTwinMap,
  type MsgTwinVersion,
  TWIN_KEY_PATTERN,
  TWIN_VALUE_MAX_LENGTH,
  TWIN_VALUE_TYPES,
  type TwinValueType,
  twinTypeNamed,
  twinValueProblem,
} from '../device-models/internal.js';
import type { Refused, UpdateSource } from './types.js';

/**
 * The checks that refuse a whole update before anything is applied: 400 where KubeEdge's edgecore refuses
 * too (dttype.UnmarshalDeviceTwinUpdate, dtcommon.ValidateValue) — a bad key, a value that is not of its
 * twin's type, a new twin of a type KubeEdge does not know — and, beyond KubeEdge, 409 for an edge write whose
 * opt-in `if_expected_version` is stale. Reasons name the property.
 * As in KubeEdge, a live twin keeps its type: the `metadata.type` an update of it carries is not looked at,
 * and its values are checked against the twin's own type; `expected_version`/`actual_version` on an edge
 * update are not looked at either (the edge bumps its own counters).
 */

// No `u` flag: KubeEdge's class has an unescaped `-` after a range (Go reads it as a literal, as does
// JavaScript without `u`).
const TWIN_KEY = new RegExp(TWIN_KEY_PATTERN);
export const DELETED = 'deleted';
export const DEFAULT_TYPE: TwinValueType = 'string';
export const ZERO: MsgTwinVersion = { cloud: 0, edge: 0 };
export const PARTS = [
  { value: 'expected', version: 'expected_version' },
  { value: 'actual', version: 'actual_version' },
] as const;

/** The own twin under `key` (never one inherited from Object.prototype, such as `constructor`). */
export function own(twins: Readonly<Record<string, MsgTwin>>, key: string): MsgTwin | undefined {
  return Object.hasOwn(twins, key) ? twins[key] : undefined;
}

export function isDeleted(twin: MsgTwin | undefined): boolean {
  return twin?.metadata?.type === DELETED;
}

/** Why the update must be refused, or undefined: every 400 is reported before any 409. */
export function checkUpdate(
  current: Readonly<Record<string, MsgTwin>>,
  update: MsgTwinMap,
  source: UpdateSource,
): Refused | undefined {
  const entries = Object.entries(update);
  for (const [key, incoming] of entries) {
    const problem = propertyProblem(key, own(current, key), incoming, source);
    if (problem) return { ok: false, code: 400, reason: `property "${key}": ${problem}` };
  }
  if (source === 'edge')
    for (const [key, incoming] of entries) {
      const conflict = staleBase(own(current, key), incoming);
      if (conflict) return { ok: false, code: 409, reason: `property "${key}": ${conflict}` };
    }
  return undefined;
}

function propertyProblem(
  key: string,
  existing: MsgTwin | undefined,
  incoming: MsgTwin | null,
  source: UpdateSource,
): string | undefined {
  if (!TWIN_KEY.test(key)) return `the key must match ${TWIN_KEY_PATTERN}`;
  if (incoming === null) {
    if (source === 'cloud') return `a cloud sync deletes a twin with metadata.type "${DELETED}", not null`;
    // KubeEdge ignores a null for a non-optional twin without a word; edgetwin says why nothing happened.
    if (existing && !isDeleted(existing) && existing.optional === false)
      return 'the twin is not optional and cannot be deleted';
    return undefined;
  }
  if (typeof incoming !== 'object') return 'a twin must be an object or null';
  const named = incoming.metadata?.type;
  if (named === DELETED && source === 'cloud') return undefined; // a cloud delete
  let valueType: string;
  if (existing !== undefined && !isDeleted(existing)) valueType = existing.metadata?.type ?? DEFAULT_TYPE;
  else {
    // KubeEdge would store a new twin typed `deleted` (or any name, when it carries no value) and then
    // refuse every value of it; edgetwin refuses the name at once.
    if (named === DELETED) return `the edge deletes a twin with null, not metadata.type "${DELETED}"`;
    const typed = twinTypeNamed(named);
    if (!typed)
      return `metadata.type "${String(named)}" is not one of ${TWIN_VALUE_TYPES.filter((t) => t !== DELETED).join(', ')}`;
    valueType = typed.type;
  }
  for (const part of PARTS) {
    const problem = valueProblem(incoming[part.value], valueType);
    if (problem) return `${part.value} ${problem}`;
  }
  return undefined;
}

/** `null` or no part at all leaves that part alone (KubeEdge's Go pointer stays nil); `{}` is an error. */
export function valueProblem(part: MsgTwin['expected'], type: string): string | undefined {
  if (part == null) return undefined;
  const value = part.value;
  if (typeof value !== 'string') return 'has no value (send null or leave it out to keep the current one)';
  if (value.length > TWIN_VALUE_MAX_LENGTH)
    return `value is longer than ${TWIN_VALUE_MAX_LENGTH} characters (${value.length})`;
  const problem = twinValueProblem(type, value);
  return problem ? `value ${problem}` : undefined;
}

/**
 * An edge write carrying `if_expected_version` (edgetwin's opt-in, never sent by KubeEdge) was based on that
 * version: it must still be the twin's `expected_version` ({0, 0} for a twin that has none).
 */
function staleBase(existing: MsgTwin | undefined, incoming: MsgTwin | null): string | undefined {
  const base = incoming?.if_expected_version;
  if (base == null) return undefined;
  const now = existing?.expected_version ?? ZERO;
  if (base.cloud === now.cloud && base.edge === now.edge) return undefined;
  return `if_expected_version ${show(base)} is stale, the twin is at ${show(now)}`;
}

function show(version: MsgTwinVersion): string {
  return `{cloud: ${version.cloud}, edge: ${version.edge}}`;
}
