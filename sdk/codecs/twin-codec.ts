import {
  checkTwinValue,
  formatTwinValue,
  type ModelProperty,
  type TwinValue,
  TwinValueError,
} from '../../device-models/index.js';

/**
 * The twin string for a value read from a device. FLOAT properties are printed at float32 precision
 * (7 significant digits), so a register holding 0.1f reports "0.1", not "0.10000000149011612".
 */
export function toTwin(property: ModelProperty, value: TwinValue): string {
  if (property.type === 'FLOAT' && typeof value === 'number') return String(Number(value.toPrecision(7)));
  return formatTwinValue(property.type, value);
}

/** The value of a twin string for this property, checked against its type and bounds; throws TwinValueError. */
export function fromTwin(property: ModelProperty, text: string): TwinValue {
  const checked = checkTwinValue(property.type, text, property);
  if (!checked.ok) throw new TwinValueError(`${property.name}: ${checked.reason}`);
  return checked.value;
}
