import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ModbusDataType } from '../../device-models/index.js';
import { ProtocolError, ValueOutOfRange } from '../errors.js';
import {
  decodeRegisters,
  encodeRegisters,
  type RegisterEncoding,
  registerCount,
} from './modbus-registers.js';

const INTEGERS: [ModbusDataType, number, number][] = [
  ['int16', -0x8000, 0x7fff],
  ['uint16', 0, 0xffff],
  ['int32', -0x8000_0000, 0x7fff_ffff],
  ['uint32', 0, 0xffff_ffff],
];
const FLOAT32_MAX = 3.4028234663852886e38;
const swaps = fc.record({ isSwap: fc.boolean(), isRegisterSwap: fc.boolean() });
const scales = fc.constantFrom(0.1, 0.01, 0.001, 0.5, 2, 10);
/** Readings as instruments give them: up to 1e6 with three decimals (no subnormals to underflow float32). */
const decimals = fc.integer({ min: -1e9, max: 1e9 }).map((n) => n / 1000);

/** encode, check the words are well-formed, decode. */
function roundTrip(x: number, enc: RegisterEncoding): number {
  const words = encodeRegisters(x, enc);
  expect(words).toHaveLength(registerCount(enc.dataType));
  for (const word of words) expect(Number.isInteger(word) && word >= 0 && word <= 0xffff).toBe(true);
  return decodeRegisters(words, enc);
}

describe('registerCount', () => {
  it('gives the width of each data type', () => {
    const types: ModbusDataType[] = ['boolean', 'int16', 'uint16', 'int32', 'uint32', 'float32', 'float64'];
    expect(types.map(registerCount)).toEqual([1, 1, 1, 2, 2, 2, 4]);
  });
});

describe.each(INTEGERS)('%s registers', (dataType, min, max) => {
  it('round-trip every value, every swap combination', () => {
    fc.assert(
      fc.property(fc.integer({ min, max }), swaps, (x, swap) => {
        expect(roundTrip(x, { dataType, ...swap })).toBe(x);
      }),
    );
  });

  it('round-trip multiples of the scale, holding the raw integer', () => {
    fc.assert(
      fc.property(fc.integer({ min, max }), scales, swaps, (raw, scale, swap) => {
        const x = raw * scale;
        const enc = { dataType, scale, ...swap };
        expect(encodeRegisters(x, enc)).toEqual(encodeRegisters(raw, { dataType, ...swap }));
        expect(Math.abs(roundTrip(x, enc) - x)).toBeLessThanOrEqual(Math.abs(x) * 1e-15);
      }),
    );
  });

  it('refuse values that do not fit', () => {
    expect(() => encodeRegisters(max + 1, { dataType })).toThrow(ValueOutOfRange);
    expect(() => encodeRegisters(min - 1, { dataType })).toThrow(ValueOutOfRange);
    expect(() => encodeRegisters(max, { dataType, scale: 0.5 })).toThrow(ValueOutOfRange);
    expect(() => encodeRegisters(Number.NaN, { dataType })).toThrow(ValueOutOfRange);
    expect(() => encodeRegisters(Number.POSITIVE_INFINITY, { dataType })).toThrow(ValueOutOfRange);
  });
});

describe('float registers', () => {
  it('float32 round-trips every float32, every swap combination', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), swaps, (x, swap) => {
        expect(roundTrip(x, { dataType: 'float32', ...swap })).toBe(x);
      }),
    );
  });

  it('float32 keeps any double in range at float32 precision', () => {
    fc.assert(
      fc.property(fc.double({ min: -FLOAT32_MAX, max: FLOAT32_MAX, noNaN: true }), swaps, (x, swap) => {
        expect(roundTrip(x, { dataType: 'float32', ...swap })).toBe(Math.fround(x));
      }),
    );
  });

  it('float64 round-trips every double, every swap combination', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), swaps, (x, swap) => {
        expect(roundTrip(x, { dataType: 'float64', ...swap })).toBe(x);
      }),
    );
  });

  it('scaled floats come back within float precision', () => {
    fc.assert(
      fc.property(decimals, scales, swaps, (x, scale, swap) => {
        expect(Math.abs(roundTrip(x, { dataType: 'float32', scale, ...swap }) - x)).toBeLessThanOrEqual(
          Math.abs(x) * 2 ** -23,
        );
        expect(Math.abs(roundTrip(x, { dataType: 'float64', scale, ...swap }) - x)).toBeLessThanOrEqual(
          Math.abs(x) * 1e-15,
        );
      }),
    );
  });

  it('refuse NaN, infinities and float32 overflow', () => {
    expect(() => encodeRegisters(Number.NaN, { dataType: 'float32' })).toThrow(ValueOutOfRange);
    expect(() => encodeRegisters(Number.NaN, { dataType: 'float64' })).toThrow(ValueOutOfRange);
    expect(() => encodeRegisters(-Infinity, { dataType: 'float64' })).toThrow(ValueOutOfRange);
    expect(() => encodeRegisters(1e39, { dataType: 'float32' })).toThrow(ValueOutOfRange);
    expect(() => encodeRegisters(1e38, { dataType: 'float32', scale: 0.1 })).toThrow(ValueOutOfRange);
  });
});

describe('known vectors', () => {
  it('are big-endian (high word, high byte first) by default', () => {
    expect(encodeRegisters(123.456, { dataType: 'float32' })).toEqual([0x42f6, 0xe979]);
    expect(encodeRegisters(-2, { dataType: 'int16' })).toEqual([0xfffe]);
    expect(encodeRegisters(0x12345678, { dataType: 'uint32' })).toEqual([0x1234, 0x5678]);
    expect(encodeRegisters(-1, { dataType: 'int32' })).toEqual([0xffff, 0xffff]);
    expect(encodeRegisters(1, { dataType: 'float64' })).toEqual([0x3ff0, 0, 0, 0]);
    expect(decodeRegisters([0x42f6, 0xe979], { dataType: 'float32' })).toBe(Math.fround(123.456));
  });

  it('swap bytes inside registers and the order of registers', () => {
    expect(encodeRegisters(0x1234, { dataType: 'uint16', isSwap: true })).toEqual([0x3412]);
    expect(encodeRegisters(123.456, { dataType: 'float32', isRegisterSwap: true })).toEqual([0xe979, 0x42f6]);
    expect(encodeRegisters(123.456, { dataType: 'float32', isSwap: true })).toEqual([0xf642, 0x79e9]);
    expect(encodeRegisters(123.456, { dataType: 'float32', isSwap: true, isRegisterSwap: true })).toEqual([
      0x79e9, 0xf642,
    ]);
    expect(encodeRegisters(0x0102030405060, { dataType: 'float64' })).toEqual(
      encodeRegisters(0x0102030405060, { dataType: 'float64', isRegisterSwap: true }).reverse(),
    );
  });

  it('apply the scale: property value = raw × scale', () => {
    expect(encodeRegisters(21.5, { dataType: 'int16', scale: 0.1 })).toEqual([215]);
    expect(decodeRegisters([215], { dataType: 'int16', scale: 0.1 })).toBe(21.5);
    expect(encodeRegisters(-0.25, { dataType: 'int16', scale: 0.01 })).toEqual([0xffe7]);
    expect(encodeRegisters(21.56, { dataType: 'int16', scale: 0.1 })).toEqual([216]);
    expect(decodeRegisters([3], { dataType: 'uint16', scale: 2 })).toBe(6);
  });

  it('treat a boolean register as 0 or 1', () => {
    expect(encodeRegisters(1, { dataType: 'boolean' })).toEqual([1]);
    expect(decodeRegisters([0x0100], { dataType: 'boolean' })).toBe(1);
    expect(decodeRegisters([0], { dataType: 'boolean' })).toBe(0);
    expect(() => encodeRegisters(2, { dataType: 'boolean' })).toThrow(ValueOutOfRange);
  });
});

describe('decodeRegisters', () => {
  it('throws ProtocolError on too few registers or a word that is not 16 bits', () => {
    expect(() => decodeRegisters([1], { dataType: 'int32' })).toThrow(ProtocolError);
    expect(() => decodeRegisters([], { dataType: 'int16' })).toThrow(ProtocolError);
    expect(() => decodeRegisters([0x10000], { dataType: 'uint16' })).toThrow(ProtocolError);
    expect(() => decodeRegisters([-1], { dataType: 'uint16' })).toThrow(ProtocolError);
    expect(() => decodeRegisters([1.5], { dataType: 'uint16' })).toThrow(ProtocolError);
  });

  it('reads the leading registers when given more (a visitor limit beyond the data type)', () => {
    expect(decodeRegisters([0x0001, 0x0002, 0xdead], { dataType: 'uint32' })).toBe(0x10002);
    expect(decodeRegisters([0x0001, 0x0002, 0xdead], { dataType: 'uint32', isRegisterSwap: true })).toBe(
      0x20001,
    );
  });
});
