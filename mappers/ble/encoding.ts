import {
  type BleVisitor,
  type ModelProperty,
  parseTwinValue,
  type TwinValue,
} from '../../device-models/index.js';
import { ValueOutOfRange } from '../../sdk/errors.js';
import { byteIndices, dataWriteBytes, dataWriteKey, decodeValue, encodeValue } from './data-converter.js';

/** Bytes a number takes in a characteristic without a dataConverter. */
const DEFAULT_NUMBER_BYTES = 4;

/** A UUID as noble spells it: lower case, no dashes ("2a19", "ebe0ccc17a0a4b0c8a1a6ff2997da3a6"). */
export function normalizeUuid(uuid: string): string {
  return uuid.toLowerCase().replaceAll('-', '');
}

/** noble's peripheral id for an address: lower case, no separators. */
export function peripheralId(address: string): string {
  return address.toLowerCase().replaceAll(/[:-]/g, '');
}

/**
 * Whether a property's bytes are two's complement: when its model allows negative values (edgetwin;
 * KubeEdge reads every value unsigned, so a thermometer's -5 °C would read as 650.36).
 */
export function isSigned(model: ModelProperty): boolean {
  return model.minimum !== undefined && Number(model.minimum) < 0;
}

/** The length a characteristic value needs to hold the property. */
export function valueLength(model: ModelProperty, visitor: BleVisitor): number {
  const converter = visitor.dataConverter;
  if (converter && (converter.startIndex !== undefined || converter.endIndex !== undefined))
    return Math.max(...byteIndices(converter, 1)) + 1;
  if (model.type === 'BOOLEAN') return 1;
  if (model.type === 'STRING') return 0;
  return DEFAULT_NUMBER_BYTES;
}

/**
 * A characteristic value read as the property: the dataWrite value whose bytes it equals (when the visitor
 * has dataWrite and no dataConverter), else the dataConverter for numbers, UTF-8 for strings.
 */
export function decodeProperty(model: ModelProperty, visitor: BleVisitor, data: Uint8Array): TwinValue {
  const converter = visitor.dataConverter;
  const key = converter ? undefined : dataWriteKey(visitor.dataWrite, data);
  if (key !== undefined) {
    const parsed = model.type === 'STRING' ? undefined : parseTwinValue(model.type, key);
    return parsed?.ok ? parsed.value : key;
  }
  if (model.type === 'STRING' && !converter) return Buffer.from(data).toString('utf8');
  if (model.type === 'BOOLEAN' && !converter) return data.some((b) => b !== 0);
  const value = decodeValue(data, converter, { signed: isSigned(model) });
  if (model.type === 'BOOLEAN') return value !== 0;
  if (model.type === 'INT') return Math.round(value);
  if (model.type === 'STRING') return String(value);
  return value;
}

/** A property value as characteristic bytes: its dataWrite bytes, else encoded over `into` (other bytes kept). */
export function encodeProperty(
  model: ModelProperty,
  visitor: BleVisitor,
  value: TwinValue,
  into: Uint8Array = Buffer.alloc(0),
): Buffer {
  const converter = visitor.dataConverter;
  const mapped = dataWriteBytes(visitor.dataWrite, String(value));
  if (mapped) return Buffer.from(mapped);
  if (typeof value === 'string' && !converter) return Buffer.from(value, 'utf8');
  const number = typeof value === 'boolean' ? (value ? 1 : 0) : Number(value);
  if (!Number.isFinite(number)) throw new ValueOutOfRange(`"${value}" is not a number`);
  return encodeValue(number, converter, {
    signed: isSigned(model),
    into,
    length: Math.max(into.length, valueLength(model, visitor)),
  });
}
