import {
  type MsgTwin,
  type MsgTwinValue,
  type MsgTwinVersion,
  type TwinType,
  twinTypeNamed,
} from '../device-models/internal.js';

/**
 * How a MsgTwin maps onto KubeEdge's `device_twin` columns, and a device attribute onto `device_attr`'s.
 * As in KubeEdge: `expected`/`actual` hold the bare value string; `expected_meta`/`actual_meta` the JSON
 * of its metadata (`{"timestamp":…}`); `expected_version`/`actual_version` the JSON of `{cloud, edge}`;
 * `attr_type` is `metadata.type`; `metadata` the JSON of the rest of `metadata` (KubeEdge writes it with
 * the type blanked); `optional` 1/0.
 * Where KubeEdge stores "" for "absent", SQL NULL is used, so an empty string stays an empty string. A
 * field that is `null` and one that is absent are both NULL, and read back as absent; unknown fields at
 * the top of a MsgTwin or inside expected/actual (beside value and metadata) are not kept.
 * A row an older edgetwin wrote with `attr_type` double, bytes or stream (types KubeEdge's edgecore refuses)
 * reads back in KubeEdge's type with `metadata.modelType`, as twins are typed now; the next write of the twin
 * stores it so.
 */
export interface TwinRow {
  expected: string | null;
  actual: string | null;
  expected_meta: string | null;
  actual_meta: string | null;
  expected_version: string | null;
  actual_version: string | null;
  optional: number | null;
  attr_type: string | null;
  metadata: string | null;
}

export function twinToRow(twin: MsgTwin): TwinRow {
  const { type, ...restOfMetadata } = twin.metadata ?? {};
  return {
    expected: twin.expected?.value ?? null,
    actual: twin.actual?.value ?? null,
    expected_meta: json(twin.expected?.metadata),
    actual_meta: json(twin.actual?.metadata),
    expected_version: json(twin.expected_version),
    actual_version: json(twin.actual_version),
    optional: twin.optional == null ? null : Number(twin.optional),
    attr_type: type ?? null,
    metadata: twin.metadata == null ? null : JSON.stringify(restOfMetadata),
  };
}

export function rowToTwin(row: TwinRow): MsgTwin {
  const twin: MsgTwin = {};
  const expected = part(row.expected, row.expected_meta);
  if (expected) twin.expected = expected;
  const actual = part(row.actual, row.actual_meta);
  if (actual) twin.actual = actual;
  if (row.optional !== null) twin.optional = row.optional !== 0;
  if (row.attr_type !== null || row.metadata !== null) {
    const rest = row.metadata === null ? {} : (JSON.parse(row.metadata) as Record<string, unknown>);
    twin.metadata = row.attr_type === null ? rest : { ...rest, ...typeOfRow(row.attr_type) };
  }
  if (row.expected_version !== null)
    twin.expected_version = JSON.parse(row.expected_version) as MsgTwinVersion;
  if (row.actual_version !== null) twin.actual_version = JSON.parse(row.actual_version) as MsgTwinVersion;
  return twin;
}

/** `attr_type` as it reads: KubeEdge's type, with the model type of the names older edgetwins wrote. */
function typeOfRow(attrType: string): TwinType | { type: string } {
  const named = twinTypeNamed(attrType);
  return named?.modelType !== undefined ? named : { type: attrType };
}

function part(value: string | null, meta: string | null): MsgTwinValue | undefined {
  if (value === null && meta === null) return undefined;
  const result: MsgTwinValue = {};
  if (value !== null) result.value = value;
  if (meta !== null) result.metadata = JSON.parse(meta) as MsgTwinValue['metadata'];
  return result;
}

function json(value: object | null | undefined): string | null {
  return value == null ? null : JSON.stringify(value);
}

export interface AttrRow {
  name: string;
  value: string | null;
  optional: number | null;
  attr_type: string | null;
  metadata: string | null;
}

/** `attr_type` of an attribute that is not a KubeEdge MsgAttr: `value` holds its JSON. */
export const JSON_ATTR = 'json';

/**
 * A KubeEdge MsgAttr (`{value, optional?, metadata?{type}}`, nothing else) fills the columns as KubeEdge
 * does; any other JSON value is stored JSON-encoded in `value` with `attr_type` 'json'.
 */
export function attrToRow(name: string, attr: unknown): AttrRow {
  if (isMsgAttr(attr)) {
    const { type, ...rest } = attr.metadata ?? {};
    return {
      name,
      value: attr.value,
      optional: attr.optional === undefined ? null : Number(attr.optional),
      attr_type: typeof type === 'string' ? type : null,
      metadata: attr.metadata === undefined ? null : JSON.stringify(rest),
    };
  }
  return { name, value: JSON.stringify(attr) ?? null, optional: null, attr_type: JSON_ATTR, metadata: null };
}

export function rowToAttr(row: AttrRow): unknown {
  if (row.attr_type === JSON_ATTR) return row.value === null ? null : JSON.parse(row.value);
  const attr: Record<string, unknown> = { value: row.value };
  if (row.optional !== null) attr.optional = row.optional !== 0;
  if (row.attr_type !== null || row.metadata !== null) {
    const rest = row.metadata === null ? {} : (JSON.parse(row.metadata) as Record<string, unknown>);
    attr.metadata = row.attr_type === null ? rest : { ...rest, type: row.attr_type };
  }
  return attr;
}

interface MsgAttr {
  value: string;
  optional?: boolean;
  metadata?: Record<string, unknown>;
}

function isMsgAttr(attr: unknown): attr is MsgAttr {
  if (!isPlainObject(attr) || typeof attr.value !== 'string') return false;
  if (Object.keys(attr).some((key) => key !== 'value' && key !== 'optional' && key !== 'metadata'))
    return false;
  if (attr.optional !== undefined && typeof attr.optional !== 'boolean') return false;
  if (attr.metadata === undefined) return true;
  return isPlainObject(attr.metadata) && ['string', 'undefined'].includes(typeof attr.metadata.type);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
