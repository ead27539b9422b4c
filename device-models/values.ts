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
