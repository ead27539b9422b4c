import type { BleVisitor } from '../../device-models/index.js';
import { ValueOutOfRange } from '../../sdk/errors.js';

/** KubeEdge's BLE dataConverter: which bytes of a characteristic hold a value, and how to scale them. */
export type DataConverter = NonNullable<BleVisitor['dataConverter']>;

export interface ConvertOptions {
  /** Read the bytes as a two's-complement integer (edgetwin; KubeEdge reads them unsigned). */
  signed?: boolean;
}

/**
 * The byte positions a converter takes, most significant first. As in KubeEdge's ble mapper, startIndex is
 * the most significant byte: startIndex <= endIndex reads big-endian, startIndex > endIndex little-endian.
 * Without indices the whole value is taken, big-endian.
 */
export function byteIndices(converter: DataConverter | undefined, length: number): number[] {
  const start = converter?.startIndex === undefined ? 0 : Number(converter.startIndex);
  const end = converter?.endIndex === undefined ? Math.max(start, length - 1) : Number(converter.endIndex);
  const indices: number[] = [];
  const step = start <= end ? 1 : -1;
  for (let i = start; i !== end + step; i += step) indices.push(i);
  return indices;
}

/**
 * Decodes a characteristic value: the bytes startIndex..endIndex as one integer, then shiftLeft, then
 * shiftRight, then orderOfOperations in order. Differences from KubeEdge's Go mapper, which has known bugs:
 * the bytes are combined as a binary integer (KubeEdge concatenates their decimal digits and parses them as
 * hex), without a shift the value passes unchanged (KubeEdge yields 0), and both shifts may apply.
 */
export function decodeValue(
  data: Uint8Array,
  converter?: DataConverter,
  options: ConvertOptions = {},
): number {
  const indices = byteIndices(converter, data.length);
  if (indices.length === 0) throw new RangeError('the dataConverter selects no bytes');
  let raw = 0n;
  for (const index of indices) {
    const byte = data[index];
    if (byte === undefined)
      throw new RangeError(`byte ${index} is past the end of the ${data.length}-byte value`);
    raw = (raw << 8n) | BigInt(byte);
  }
  const bits = BigInt(indices.length * 8);
  if (options.signed && raw >= 1n << (bits - 1n)) raw -= 1n << bits;
  if (converter?.shiftLeft) raw <<= BigInt(Number(converter.shiftLeft));
  if (converter?.shiftRight) raw >>= BigInt(Number(converter.shiftRight));
  let value = Number(raw);
  for (const op of converter?.orderOfOperations ?? []) {
    const operand = Number(op.operationValue);
    if (op.operationType === 'Add') value += operand;
    else if (op.operationType === 'Subtract') value -= operand;
    else if (op.operationType === 'Multiply') value *= operand;
    else value /= operand;
  }
  return value;
}

/**
 * The inverse of decodeValue for writes: undoes orderOfOperations from last to first, then the shifts, rounds
 * to an integer and puts it into bytes startIndex..endIndex of `into` (a copy; zero-filled to fit).
 * Throws ValueOutOfRange when the integer does not fit those bytes. A shiftRight loses low bits: the value
 * written is the one that decodes to the nearest representable value.
 */
export function encodeValue(
  value: number,
  converter?: DataConverter,
  options: ConvertOptions & { into?: Uint8Array; length?: number } = {},
): Buffer {
  if (!Number.isFinite(value)) throw new ValueOutOfRange(`${value} cannot be encoded`);
  let x = value;
  for (const op of [...(converter?.orderOfOperations ?? [])].reverse()) {
    const operand = Number(op.operationValue);
    if (op.operationType === 'Add') x -= operand;
    else if (op.operationType === 'Subtract') x += operand;
    else if (op.operationType === 'Multiply') x /= operand;
    else x *= operand;
  }
  if (!Number.isFinite(x)) throw new ValueOutOfRange(`${value} cannot be encoded`);
  let raw = BigInt(Math.round(x));
  if (converter?.shiftRight) raw <<= BigInt(Number(converter.shiftRight));
  if (converter?.shiftLeft) raw >>= BigInt(Number(converter.shiftLeft));
  const length = Math.max(options.into?.length ?? 0, options.length ?? 0);
  const indices = byteIndices(converter, length || 1);
  const bits = BigInt(indices.length * 8);
  const [lo, hi] = options.signed
    ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n]
    : [0n, (1n << bits) - 1n];
  if (raw < lo || raw > hi)
    throw new ValueOutOfRange(
      `${value} encodes to ${raw}, outside ${lo}..${hi} (${indices.length} byte${indices.length > 1 ? 's' : ''})`,
    );
  if (raw < 0n) raw += 1n << bits;
  const out = Buffer.alloc(Math.max(length, ...indices.map((i) => i + 1)));
  if (options.into) out.set(options.into);
  for (const index of [...indices].reverse()) {
    out[index] = Number(raw & 0xffn);
    raw >>= 8n;
  }
  return out;
}

/** The bytes `dataWrite` gives for a desired value (matched as text, e.g. "ON" or "true"), if any. */
export function dataWriteBytes(dataWrite: BleVisitor['dataWrite'], value: string): number[] | undefined {
  if (!dataWrite) return undefined;
  if (Object.hasOwn(dataWrite, value)) return dataWrite[value];
  const lower = value.toLowerCase();
  const key = Object.keys(dataWrite).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : dataWrite[key];
}

/** The dataWrite key whose bytes equal `data`, for reading back a value written that way. */
export function dataWriteKey(dataWrite: BleVisitor['dataWrite'], data: Uint8Array): string | undefined {
  if (!dataWrite) return undefined;
  return Object.keys(dataWrite).find((k) => {
    const bytes = dataWrite[k] ?? [];
    return bytes.length === data.length && bytes.every((b, i) => data[i] === b);
  });
}
