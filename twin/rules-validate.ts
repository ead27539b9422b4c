import {
  type MsgTwin,
  type MsgTwinMap,
  type MsgTwinVersion,
  parseTwinValue,
  TWIN_KEY_PATTERN,
  TWIN_VALUE_MAX_LENGTH,
  TWIN_VALUE_TYPES,
  type TwinValueType,
} from '../device-models/index.js';
import type { Refused, UpdateSource } from './types.js';

/**
 * The checks that refuse a whole update before anything is applied: 400 for a bad key, type or value,
 * 409 for an edge write based on a stale `expected_version`. Reasons name the property.
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
  const type = incoming.metadata?.type;
  if (type !== undefined && !TWIN_VALUE_TYPES.includes(type))
    return `metadata.type "${String(type)}" is not one of ${TWIN_VALUE_TYPES.join(', ')}`;
  if (type === DELETED)
    return source === 'edge'
      ? `the edge deletes a twin with null, not metadata.type "${DELETED}"`
      : undefined;
  const live = existing && !isDeleted(existing);
  const currentType = existing?.metadata?.type ?? DEFAULT_TYPE;
  if (live && type !== undefined && type !== currentType)
    return `metadata.type cannot change from "${currentType}" to "${type}" unless the twin is deleted first`;
  const valueType = type ?? (live ? currentType : DEFAULT_TYPE);
  for (const part of PARTS) {
    const problem = valueProblem(incoming[part.value], valueType);
    if (problem) return `${part.value} ${problem}`;
  }
  return undefined;
}

/** `null` or no part at all leaves that part alone (KubeEdge's Go pointer stays nil); `{}` is an error. */
function valueProblem(part: MsgTwin['expected'], type: TwinValueType): string | undefined {
  if (part == null) return undefined;
  const value = part.value;
  if (typeof value !== 'string') return 'has no value (send null or leave it out to keep the current one)';
  if (value.length > TWIN_VALUE_MAX_LENGTH)
    return `value is longer than ${TWIN_VALUE_MAX_LENGTH} characters (${value.length})`;
  return parses(type, value) ? undefined : `value "${value}" is not a valid ${type}`;
}

/**
 * KubeEdge's dtcommon.ValidateValue: int/integer must be an integer, float/double a number, boolean exactly
 * `true` or `false`; string, bytes (and edgetwin's stream) take anything. Numbers go through the shared
 * parseTwinValue so "12.5" means the same here as in the mappers.
 */
function parses(type: TwinValueType, value: string): boolean {
  switch (type) {
    case 'int':
    case 'integer':
      return parseTwinValue('INT', value).ok;
    case 'float':
    case 'double':
      return parseTwinValue('DOUBLE', value).ok; // KubeEdge parses both as float64
    case 'boolean':
      return value === 'true' || value === 'false';
    default:
      return true;
  }
}

/** An edge write that carries `expected_version` was based on that version: it must still be current. */
function staleBase(existing: MsgTwin | undefined, incoming: MsgTwin | null): string | undefined {
  const base = incoming?.expected_version;
  if (base == null) return undefined;
  const now = existing?.expected_version ?? ZERO;
  if (base.cloud === now.cloud && base.edge === now.edge) return undefined;
  return `expected_version ${show(base)} is stale, the twin is at ${show(now)}`;
}

function show(version: MsgTwinVersion): string {
  return `{cloud: ${version.cloud}, edge: ${version.edge}}`;
}
