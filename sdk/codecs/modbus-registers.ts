import { MODBUS_DATA_TYPES, type ModbusDataType } from '../../device-models/internal.js';
import { ProtocolError, ValueOutOfRange } from '../errors.js';

/**
 * How a number sits in 16-bit Modbus registers. The default is Modbus order: high word first, high byte
 * first (big-endian throughout).
 */
export interface RegisterEncoding {
  dataType: ModbusDataType;
  /** Property value = raw value × scale (default 1). */
  scale?: number;
  /** Swap the two bytes inside each register. */
  isSwap?: boolean;
  /** Reverse the order of the registers (for 2- and 4-register types). */
  isRegisterSwap?: boolean;
}

type Layout = {
  read: (view: DataView) => number;
  write: (view: DataView, raw: number) => void;
  /** Inclusive range of raw values for the integer types. */
  range?: readonly [number, number];
};

const LAYOUTS: Record<ModbusDataType, Layout> = {
  boolean: {
    read: (v) => (v.getUint16(0) === 0 ? 0 : 1),
    write: (v, raw) => v.setUint16(0, raw),
    range: [0, 1],
  },
  int16: { read: (v) => v.getInt16(0), write: (v, raw) => v.setInt16(0, raw), range: [-0x8000, 0x7fff] },
  uint16: { read: (v) => v.getUint16(0), write: (v, raw) => v.setUint16(0, raw), range: [0, 0xffff] },
  int32: {
    read: (v) => v.getInt32(0),
    write: (v, raw) => v.setInt32(0, raw),
    range: [-0x8000_0000, 0x7fff_ffff],
  },
  uint32: { read: (v) => v.getUint32(0), write: (v, raw) => v.setUint32(0, raw), range: [0, 0xffff_ffff] },
  float32: { read: (v) => v.getFloat32(0), write: (v, raw) => v.setFloat32(0, raw) },
  float64: { read: (v) => v.getFloat64(0), write: (v, raw) => v.setFloat64(0, raw) },
};

/** How many 16-bit registers a data type spans (a boolean counts one). */
export function registerCount(dataType: ModbusDataType): number {
  return MODBUS_DATA_TYPES[dataType];
}

/**
 * Reads the leading registers as the encoding says and returns the property value (raw × scale).
 * Registers past the data type's width are ignored, as KubeEdge does when a visitor's `limit` is larger
 * than its data type; fewer registers than the width, or a word outside 0..65535, throw ProtocolError.
 */
export function decodeRegisters(registers: readonly number[], enc: RegisterEncoding): number {
  const count = registerCount(enc.dataType);
  if (registers.length < count)
    throw new ProtocolError(`${enc.dataType} spans ${count} register(s), got ${registers.length}`);
  // Called for every value read: the words go into one scratch view, nothing is allocated.
  for (let i = 0; i < count; i++) {
    const word = registers[enc.isRegisterSwap ? count - 1 - i : i]!;
    if (!Number.isInteger(word) || word < 0 || word > 0xffff)
      throw new ProtocolError(`register value ${word} is not a 16-bit word`);
    scratch.setUint16(i * 2, enc.isSwap ? ((word & 0xff) << 8) | (word >>> 8) : word);
  }
  const raw = LAYOUTS[enc.dataType].read(scratch);
  return scaleUp(raw, enc.scale ?? 1);
}

/** Eight bytes, the widest data type; decodeRegisters reads one value at a time (synchronously). */
const scratch = new DataView(new ArrayBuffer(8));

/**
 * The registers that hold `value` (property value ÷ scale) in the encoding. Integer types round the
 * scaled value to the nearest integer (halves toward +∞). Throws ValueOutOfRange when the value is not
 * finite or does not fit the data type.
 */
export function encodeRegisters(value: number, enc: RegisterEncoding): number[] {
  const { dataType, scale = 1 } = enc;
  const layout = LAYOUTS[dataType];
  let raw = scaleDown(value, scale);
  if (layout.range) raw = Math.round(raw);
  const [min, max] = layout.range ?? [-Infinity, Infinity];
  const fits = dataType === 'float32' ? Number.isFinite(Math.fround(raw)) : Number.isFinite(raw);
  if (!fits || raw < min || raw > max) {
    const scaled = scale === 1 ? '' : ` at scale ${scale}`;
    throw new ValueOutOfRange(`${value}${scaled} does not fit a ${dataType} register value`);
  }
  const bytes = Buffer.alloc(registerCount(dataType) * 2);
  layout.write(viewOf(bytes), raw);
  if (enc.isSwap) bytes.swap16();
  const words = Array.from({ length: bytes.length / 2 }, (_, i) => bytes.readUInt16BE(i * 2));
  return enc.isRegisterSwap ? words.reverse() : words;
}

function viewOf(bytes: Buffer): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/*
 * Decimal scales such as 0.1 are not exact in binary, so 215 × 0.1 gives 21.500000000000004. Dividing
 * by the whole-number reciprocal (215 / 10) gives the double nearest to 21.5 instead; other scales
 * multiply as written.
 */

function scaleUp(raw: number, scale: number): number {
  const inverse = 1 / scale;
  return Number.isInteger(inverse) && Math.abs(scale) < 1 ? raw / inverse : raw * scale;
}

function scaleDown(value: number, scale: number): number {
  const inverse = 1 / scale;
  return Number.isInteger(inverse) && Math.abs(scale) < 1 ? value * inverse : value / scale;
}
