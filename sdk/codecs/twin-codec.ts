import {
  checkTwinValue,
  formatTwinValue,
  type ModelProperty,
  NUMERIC_TYPES,
  parseTwinValue,
  type TwinValue,
  TwinValueError,
} from '../../device-models/internal.js';

/** How `toTwin` prints numbers. */
export interface TwinFormatOptions {
  /**
   * Print the shortest decimal that identifies the same 32-bit float. Default: true for FLOAT (KubeEdge's
   * FLOAT is a float32), false for DOUBLE. Set it for a DOUBLE property read from a float32 register.
   */
  float32?: boolean;
  /** Round FLOAT and DOUBLE values to this many significant digits (1–17) before printing. */
  precision?: number;
}

/**
 * The twin string for a value read from a device. Numbers print as the shortest text that reads back
 * as the same value, so a float32 register holding 0.1 reports "0.1", not "0.10000000149011612".
 * Strings are parsed as the property's type first; numbers become booleans as non-zero. Throws
 * TwinValueError for a value the type cannot hold (NaN, infinity, "abc" for an INT).
 */
export function toTwin(property: ModelProperty, value: TwinValue, options: TwinFormatOptions = {}): string {
  const { type } = property;
  let typed = value;
  if (typeof value === 'string' && type !== 'STRING') {
    const parsed = parseTwinValue(type, value);
    if (!parsed.ok) throw new TwinValueError(`${property.name}: ${parsed.reason}`);
    typed = parsed.value;
  }
  if (type === 'BOOLEAN' && typeof typed === 'number') return typed !== 0 ? 'true' : 'false';
  if (!NUMERIC_TYPES.includes(type) || typeof typed === 'string') return formatTwinValue(type, typed);
  const n = typeof typed === 'boolean' ? Number(typed) : typed;
  if (!Number.isFinite(n)) throw new TwinValueError(`${property.name}: ${n} is not a ${type}`);
  if (type === 'INT') return formatTwinValue(type, n);
  const rounded = options.precision === undefined ? n : Number(n.toPrecision(options.precision));
  return String((options.float32 ?? type === 'FLOAT') ? shortestFloat32(rounded) : rounded);
}

/**
 * The value of a twin string for this property, parsed as its type and checked against its minimum and
 * maximum. Throws TwinValueError naming the property when either fails.
 */
export function fromTwin(property: ModelProperty, text: string): TwinValue {
  const checked = checkTwinValue(property.type, text, property);
  if (!checked.ok) throw new TwinValueError(`${property.name}: ${checked.reason}`);
  return checked.value;
}

/** The number with the fewest significant digits that rounds to the same float32 as `x` (at most 9). */
function shortestFloat32(x: number): number {
  const target = Math.fround(x);
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(target.toPrecision(digits));
    if (Math.fround(candidate) === target) return candidate;
  }
  return Number(target.toPrecision(9));
}
