import type { PropertyType } from './schema/device-model.js';

/**
 * Twin values travel as strings; the model's type says how to read them. These are the rules validation,
 * the twin and the mappers share, so "12.5" means the same thing everywhere.
 */

export type TwinValue = number | boolean | string;

/** A twin string parsed for a property type: the typed value, or why it is not one. */
export type Parsed = { ok: true; value: TwinValue } | { ok: false; reason: string };

const INT_TEXT = /^[+-]?\d+$/;
const FLOAT_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** Go's strconv.ParseBool, which KubeEdge uses. */
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

export const NUMERIC_TYPES: readonly PropertyType[] = ['INT', 'FLOAT', 'DOUBLE'];

/** The typed value of a twin string for a model property type (`"21.5"` → 21.5 for FLOAT), or why not. */
export function parseTwinValue(type: PropertyType, text: string): Parsed {
  switch (type) {
    case 'INT': {
      if (!INT_TEXT.test(text)) return { ok: false, reason: `"${text}" is not an INT` };
      const n = Number(text);
      if (!Number.isSafeInteger(n))
        return { ok: false, reason: `"${text}" is outside the safe integer range` };
      return { ok: true, value: n };
    }
    case 'FLOAT':
    case 'DOUBLE': {
      if (!FLOAT_TEXT.test(text)) return { ok: false, reason: `"${text}" is not a ${type}` };
      const n = Number(text);
      if (!Number.isFinite(n) || (type === 'FLOAT' && !Number.isFinite(Math.fround(n))))
        return { ok: false, reason: `"${text}" is out of range for ${type}` };
      return { ok: true, value: n };
    }
    case 'BOOLEAN':
      if (TRUE.has(text)) return { ok: true, value: true };
      if (FALSE.has(text)) return { ok: true, value: false };
      return { ok: false, reason: `"${text}" is not a BOOLEAN (true or false)` };
    default:
      return { ok: true, value: text };
  }
}

/** The canonical twin string for a value of the given type. */
export function formatTwinValue(type: PropertyType, value: TwinValue): string {
  if (type === 'BOOLEAN')
    return value === true || (typeof value === 'number' && value !== 0) || TRUE.has(String(value))
      ? 'true'
      : 'false';
  if (type === 'INT' && typeof value === 'number') return String(Math.round(value));
  return String(value);
}

export interface Bounds {
  minimum?: string;
  maximum?: string;
}

/** Why `value` lies outside the model's minimum/maximum, or undefined when it does not. */
export function outOfRange(type: PropertyType, value: TwinValue, bounds: Bounds): string | undefined {
  if (!NUMERIC_TYPES.includes(type) || typeof value !== 'number') return undefined;
  if (bounds.minimum !== undefined && value < Number(bounds.minimum))
    return `${value} is below the minimum ${bounds.minimum}`;
  if (bounds.maximum !== undefined && value > Number(bounds.maximum))
    return `${value} is above the maximum ${bounds.maximum}`;
  return undefined;
}

/** Parses and range-checks in one step: what every desired value goes through. */
export function checkTwinValue(type: PropertyType, text: string, bounds: Bounds): Parsed {
  const parsed = parseTwinValue(type, text);
  if (!parsed.ok) return parsed;
  const reason = outOfRange(type, parsed.value, bounds);
  return reason ? { ok: false, reason } : parsed;
}

/**
 * Whether two twin values mean the same under `type`, a twin's `metadata.type` (`int`, `float`…) or a model
 * type (`INT`, `FLOAT`…), in any case: integers and floating-point numbers compare as numbers ("24" and
 * "24.0", "+7" and "7"), integers exactly beyond 2^53; booleans with Go's strconv.ParseBool ("1" and "true");
 * everything else, and any value that does not parse as its type, compares as the exact string. The delta
 * (expected ≠ actual) and the device runtime's "does the device hold the desired value" both use it, so a
 * value written once is never taken for a different one because of how it was spelt.
 */
export function sameTwinValue(type: string | null | undefined, a: string, b: string): boolean {
  if (a === b) return true;
  switch (type?.toLowerCase()) {
    case 'int':
    case 'integer':
      if (INT_TEXT.test(a) && INT_TEXT.test(b)) return BigInt(a) === BigInt(b);
      return sameNumber(a, b);
    case 'float':
    case 'double':
      return sameNumber(a, b);
    case 'boolean': {
      const [x, y] = [parseTwinValue('BOOLEAN', a), parseTwinValue('BOOLEAN', b)];
      return x.ok && y.ok && x.value === y.value;
    }
    default:
      return false;
  }
}

/** Both parse as finite numbers (KubeEdge reads int, float and double as float64) and are equal. */
function sameNumber(a: string, b: string): boolean {
  const [x, y] = [parseTwinValue('DOUBLE', a), parseTwinValue('DOUBLE', b)];
  return x.ok && y.ok && x.value === y.value;
}

/**
 * The twin types KubeEdge's edgecore takes (dtcommon.ValidateValue): what edgetwin publishes in `metadata.type`.
 * `deleted` marks a soft-deleted twin.
 */
export const TWIN_VALUE_TYPES = ['string', 'int', 'integer', 'float', 'boolean', 'deleted'] as const;
export type TwinTypeName = (typeof TWIN_VALUE_TYPES)[number];

/** Model types KubeEdge's twin type cannot tell apart from another: kept beside it as `metadata.modelType`. */
const FINER_MODEL_TYPES: readonly PropertyType[] = ['DOUBLE', 'BYTES', 'STREAM'];

const TWIN_TYPE_OF_MODEL: Record<PropertyType, TwinTypeName> = {
  INT: 'int',
  FLOAT: 'float',
  DOUBLE: 'float',
  STRING: 'string',
  BOOLEAN: 'boolean',
  BYTES: 'string',
  STREAM: 'string',
};

/**
 * A twin's `metadata` type fields: `type` from KubeEdge's set, and `modelType`, the DeviceModel type, only where
 * `type` loses it (DOUBLE is a `float`, BYTES and STREAM are `string`s). KubeEdge's TypeMetadata has no
 * `modelType`, so its decoders drop it; edgetwin keeps it in the twin's `metadata` column, as KubeEdge keeps
 * the rest of a twin's metadata there.
 */
export interface TwinType {
  type: TwinTypeName;
  modelType?: PropertyType;
}

/** The twin type of a model property: INT → int, FLOAT and DOUBLE → float, STRING, BYTES and STREAM → string. */
export function twinTypeOf(modelType: PropertyType): TwinType {
  const type = TWIN_TYPE_OF_MODEL[modelType];
  return FINER_MODEL_TYPES.includes(modelType) ? { type, modelType } : { type };
}

/**
 * A `metadata.type` as it comes on the EventBus: KubeEdge's names as they are (case-sensitive, as there), none
 * or "" as `string` (KubeEdge's default), and the lower-case model types edgetwin published before (`double`,
 * `bytes`, `stream`) as twinTypeOf maps them. Undefined for any other name.
 */
export function twinTypeNamed(name: string | null | undefined): TwinType | undefined {
  if (name == null || name === '') return STRING_TYPE;
  // Every reported value names its type: one frozen object per name (a twin's metadata is never modified).
  let named = TYPES_NAMED.get(name);
  if (named === undefined) {
    named = namedType(name);
    if (!named) return undefined;
    TYPES_NAMED.set(name, named);
  }
  return named;
}

const STRING_TYPE: TwinType = Object.freeze({ type: 'string' });
/** The names seen so far (KubeEdge's and the lower-case model types: a dozen at most). */
const TYPES_NAMED = new Map<string, TwinType>();

function namedType(name: string): TwinType | undefined {
  if ((TWIN_VALUE_TYPES as readonly string[]).includes(name))
    return Object.freeze({ type: name as TwinTypeName });
  const model = name.toUpperCase() as PropertyType;
  return name === name.toLowerCase() && Object.hasOwn(TWIN_TYPE_OF_MODEL, model)
    ? Object.freeze(twinTypeOf(model))
    : undefined;
}

/** Go's strconv.ParseFloat syntax: decimal, hexadecimal with a `p` exponent, inf/infinity with a sign, nan. */
const GO_DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const GO_HEX = /^[+-]?0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/;
const GO_SPECIAL = /^([+-]?inf(inity)?|nan)$/i;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Why `value` is not a valid `type` twin value for KubeEdge's edgecore (dtcommon.ValidateValue), or undefined:
 * int and integer take what Go's ParseInt(value, 10, 64) does, float what ParseFloat(value, 64) does (NaN and
 * infinities included, not an overflow), boolean exactly `true` or `false`; string, deleted and any other type
 * take anything.
 */
export function twinValueProblem(type: string, value: string): string | undefined {
  switch (type) {
    case 'int':
    case 'integer': {
      const n = INT_TEXT.test(value) ? BigInt(value) : undefined;
      return n !== undefined && n >= INT64_MIN && n <= INT64_MAX
        ? undefined
        : `"${value}" is not a 64-bit ${type}`;
    }
    case 'float':
      return goFloat(value) ? undefined : `"${value}" is not a float`;
    case 'boolean':
      return value === 'true' || value === 'false'
        ? undefined
        : `"${value}" is not a boolean (true or false)`;
    default:
      return undefined;
  }
}

function goFloat(text: string): boolean {
  if (GO_SPECIAL.test(text)) return true;
  if (GO_DECIMAL.test(text)) return Number.isFinite(Number(text));
  const hex = GO_HEX.exec(text);
  if (!hex) return false;
  const [whole, fraction] = [hex[1]!, hex[2] ?? ''];
  if (whole + fraction === '') return false;
  const mantissa = Number.parseInt(whole + fraction, 16);
  return mantissa === 0 || Number.isFinite(mantissa * 2 ** (Number(hex[3]) - 4 * fraction.length));
}
