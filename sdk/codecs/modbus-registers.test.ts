import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODBUS_DATA_TYPES, type ModbusDataType } from '../../device-models/index.js';
import { ValueOutOfRange } from '../errors.js';
import {
  decodeRegisters,
  encodeRegisters,
  type RegisterEncoding,
  registerCount,
} from './modbus-registers.js';
import { fromTwin, toTwin } from './twin-codec.js';

const INTEGER: Record<string, [number, number]> = {
  int16: [-0x8000, 0x7fff],
  uint16: [0, 0xffff],
  int32: [-0x80000000, 0x7fffffff],
  uint32: [0, 0xffffffff],
};
const swaps = fc.record({ isSwap: fc.boolean(), isRegisterSwap: fc.boolean() });

describe('Modbus register codec', () => {
  for (const dataType of Object.keys(INTEGER) as ModbusDataType[]) {
    const [min, max] = INTEGER[dataType]!;
    it(`decode(encode(x)) = x for ${dataType}, every swap combination`, () => {
      fc.assert(
        fc.property(fc.integer({ min, max }), swaps, (x, swap) => {
          const enc: RegisterEncoding = { dataType, ...swap };
          const words = encodeRegisters(x, enc);
          expect(words).toHaveLength(registerCount(dataType));
          for (const w of words) expect(Number.isInteger(w) && w >= 0 && w <= 0xffff).toBe(true);
          expect(decodeRegisters(words, enc)).toBe(x);
        }),
      );
    });
    it(`decode(encode(x)) = x for ${dataType} with a scale`, () => {
      fc.assert(
        fc.property(
          fc.integer({ min: Math.max(min, -30000), max: Math.min(max, 30000) }),
          swaps,
          (raw, swap) => {
            const enc: RegisterEncoding = { dataType, scale: 0.1, ...swap };
            const x = raw * 0.1;
            expect(decodeRegisters(encodeRegisters(x, enc), enc)).toBeCloseTo(x, 6);
          },
        ),
      );
    });
    it(`refuses values outside ${dataType}`, () => {
      expect(() => encodeRegisters(max + 1, { dataType })).toThrow(ValueOutOfRange);
      expect(() => encodeRegisters(min - 1, { dataType })).toThrow(ValueOutOfRange);
    });
  }

  it('decode(encode(x)) = x for float32 (at float32 precision) and float64, every swap combination', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), swaps, (x, swap) => {
        const enc: RegisterEncoding = { dataType: 'float32', ...swap };
        expect(decodeRegisters(encodeRegisters(x, enc), enc)).toBe(Math.fround(x) === 0 ? 0 : Math.fround(x));
      }),
    );
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), swaps, (x, swap) => {
        const enc: RegisterEncoding = { dataType: 'float64', ...swap };
        const back = decodeRegisters(encodeRegisters(x, enc), enc);
        expect(back === x || (back === 0 && x === 0)).toBe(true);
      }),
    );
  });

  it('matches known vectors', () => {
    expect(encodeRegisters(123.456, { dataType: 'float32' })).toEqual([0x42f6, 0xe979]);
    expect(encodeRegisters(123.456, { dataType: 'float32', isRegisterSwap: true })).toEqual([0xe979, 0x42f6]);
    expect(encodeRegisters(123.456, { dataType: 'float32', isSwap: true })).toEqual([0xf642, 0x79e9]);
    expect(encodeRegisters(-2, { dataType: 'int16' })).toEqual([0xfffe]);
    expect(encodeRegisters(0x1234, { dataType: 'uint16', isSwap: true })).toEqual([0x3412]);
    expect(encodeRegisters(0x12345678, { dataType: 'uint32' })).toEqual([0x1234, 0x5678]);
    expect(decodeRegisters([215], { dataType: 'int16', scale: 0.1 })).toBeCloseTo(21.5, 10);
    expect(encodeRegisters(21.5, { dataType: 'int16', scale: 0.1 })).toEqual([215]);
    expect(registerCount('float64')).toBe(MODBUS_DATA_TYPES.float64);
  });

  it('refuses NaN, infinities and too few registers', () => {
    expect(() => encodeRegisters(Number.NaN, { dataType: 'float32' })).toThrow(ValueOutOfRange);
    expect(() => encodeRegisters(1e39, { dataType: 'float32' })).toThrow(ValueOutOfRange);
    expect(() => decodeRegisters([1], { dataType: 'int32' })).toThrow(RangeError);
  });
});

describe('twin codec', () => {
  const float = { name: 'temperature', type: 'FLOAT' as const, minimum: '-40', maximum: '125' };
  it('prints float32 readings at float32 precision', () => {
    expect(toTwin(float, Math.fround(0.1))).toBe('0.1');
    expect(toTwin(float, Math.fround(21.5))).toBe('21.5');
    expect(toTwin({ name: 'b', type: 'BOOLEAN' }, true)).toBe('true');
    expect(toTwin({ name: 'n', type: 'INT' }, 7)).toBe('7');
  });
  it('parses and range-checks twin strings, naming the property', () => {
    expect(fromTwin(float, '21.5')).toBe(21.5);
    expect(() => fromTwin(float, '200')).toThrow(/temperature: 200 is above the maximum 125/);
    expect(() => fromTwin({ name: 'n', type: 'INT' }, 'abc')).toThrow(/n: "abc" is not an INT/);
  });
});
