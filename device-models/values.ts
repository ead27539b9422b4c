import type { PropertyType } from './schema/device-model.js';

/**
 * Twin values travel as strings; the model's type says how to read them. These are the rules validation,
 * the twin and the mappers share, so "12.5" means the same thing everywhere.
 */

export type TwinValue = number | boolean | string;

export type Parsed = { ok: true; value: TwinValue } | { ok: false; reason: string };

const INT_TEXT = /^[+-]?\d+$/;
const FLOAT_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
/** Go's strconv.ParseBool, which KubeEdge uses. */
const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

export const NUMERIC_TYPES: readonly PropertyType[] = ['INT', 'FLOAT', 'DOUBLE'];

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
export function sameTwinValue(type: string | undefined, a: string, b: string): boolean {
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
