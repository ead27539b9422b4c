import { MODBUS_DATA_TYPES, type ModbusDataType } from '../../device-models/index.js';
import { ValueOutOfRange } from '../errors.js';

/** How a number sits in 16-bit Modbus registers. */
export interface RegisterEncoding {
  dataType: ModbusDataType;
  /** Property value = raw × scale (default 1). */
  scale?: number;
  /** Swap the two bytes inside each register. */
  isSwap?: boolean;
  /** Reverse the order of the registers (words). */
  isRegisterSwap?: boolean;
}

const INTEGER_RANGE: Partial<Record<ModbusDataType, [number, number]>> = {
  boolean: [0, 1],
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
};

/** How many registers a data type spans. */
export function registerCount(dataType: ModbusDataType): number {
  return MODBUS_DATA_TYPES[dataType];
}

/** Big-endian bytes (Modbus order) → the words, applying the swaps. The swaps are their own inverse. */
function toWords(bytes: Buffer, enc: RegisterEncoding): number[] {
  const words: number[] = [];
  for (let i = 0; i < bytes.length; i += 2)
    words.push(enc.isSwap ? bytes.readUInt16LE(i) : bytes.readUInt16BE(i));
  return enc.isRegisterSwap ? words.reverse() : words;
}

function toBytes(words: readonly number[], enc: RegisterEncoding): Buffer {
  const ordered = enc.isRegisterSwap ? [...words].reverse() : words;
  const bytes = Buffer.alloc(ordered.length * 2);
  ordered.forEach((word, i) => {
    if (enc.isSwap) bytes.writeUInt16LE(word & 0xffff, i * 2);
    else bytes.writeUInt16BE(word & 0xffff, i * 2);
  });
  return bytes;
}

/** The property value held in the first registers of `registers` (raw value × scale). */
export function decodeRegisters(registers: readonly number[], enc: RegisterEncoding): number {
  const count = registerCount(enc.dataType);
  if (registers.length < count)
    throw new RangeError(`${enc.dataType} spans ${count} register(s), got ${registers.length}`);
  const bytes = toBytes(registers.slice(0, count), enc);
  const raw = (() => {
    switch (enc.dataType) {
      case 'boolean':
      case 'uint16':
        return bytes.readUInt16BE(0);
      case 'int16':
        return bytes.readInt16BE(0);
      case 'int32':
        return bytes.readInt32BE(0);
      case 'uint32':
        return bytes.readUInt32BE(0);
      case 'float32':
        return bytes.readFloatBE(0);
      case 'float64':
        return bytes.readDoubleBE(0);
    }
  })();
  const scale = enc.scale ?? 1;
  return scale === 1 ? raw : raw * scale;
}

/** The registers that hold `value` (raw = value / scale, rounded for integer types); throws ValueOutOfRange. */
export function encodeRegisters(value: number, enc: RegisterEncoding): number[] {
  if (!Number.isFinite(value)) throw new ValueOutOfRange(`${value} cannot be written to a register`);
  const scale = enc.scale ?? 1;
  const scaled = scale === 1 ? value : value / scale;
  const bytes = Buffer.alloc(registerCount(enc.dataType) * 2);
  const range = INTEGER_RANGE[enc.dataType];
  if (range) {
    const raw = Math.round(scaled);
    if (raw < range[0] || raw > range[1])
      throw new ValueOutOfRange(
        `${value} does not fit ${enc.dataType}${scale !== 1 ? ` at scale ${scale}` : ''}`,
      );
    if (enc.dataType === 'int16') bytes.writeInt16BE(raw);
    else if (enc.dataType === 'int32') bytes.writeInt32BE(raw);
    else if (enc.dataType === 'uint32') bytes.writeUInt32BE(raw);
    else bytes.writeUInt16BE(raw);
  } else if (enc.dataType === 'float32') {
    if (Math.abs(scaled) > 3.4028234663852886e38) throw new ValueOutOfRange(`${value} does not fit float32`);
    bytes.writeFloatBE(scaled);
  } else bytes.writeDoubleBE(scaled);
  return toWords(bytes, enc);
}
