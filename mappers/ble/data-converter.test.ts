import { describe, expect, it } from 'vitest';
import { ValueOutOfRange } from '../../sdk/errors.js';
import { byteIndices, dataWriteBytes, dataWriteKey, decodeValue, encodeValue } from './data-converter.js';

const temperature = {
  startIndex: 0,
  endIndex: 1,
  orderOfOperations: [{ operationType: 'Divide' as const, operationValue: 100 }],
};

describe('decodeValue', () => {
  it('reads startIndex as the most significant byte', () => {
    expect(decodeValue(Buffer.from([0x08, 0x59, 0x2a]), temperature)).toBeCloseTo(21.37);
    expect(decodeValue(Buffer.from([0x08, 0x59, 0x2a]), { startIndex: 2, endIndex: 2 })).toBe(42);
  });

  it('reads little-endian when startIndex > endIndex', () => {
    expect(decodeValue(Buffer.from([0x59, 0x08]), { startIndex: 1, endIndex: 0 })).toBe(2137);
    expect(byteIndices({ startIndex: 3, endIndex: 1 }, 4)).toEqual([3, 2, 1]);
  });

  it('takes the whole value without indices', () => {
    expect(decodeValue(Buffer.from([1, 0]))).toBe(256);
  });

  it('reads two’s complement when signed', () => {
    expect(decodeValue(Buffer.from([0xfe, 0x0c]), temperature, { signed: true })).toBeCloseTo(-5);
    expect(decodeValue(Buffer.from([0xfe, 0x0c]), temperature)).toBeCloseTo(650.36);
  });

  it('shifts, then applies the operations in order', () => {
    const converter = {
      startIndex: 0,
      endIndex: 0,
      shiftRight: 4,
      orderOfOperations: [
        { operationType: 'Multiply' as const, operationValue: 2 },
        { operationType: 'Add' as const, operationValue: 1 },
        { operationType: 'Subtract' as const, operationValue: 0.5 },
      ],
    };
    expect(decodeValue(Buffer.from([0xa5]), converter)).toBe(10 * 2 + 1 - 0.5);
    expect(decodeValue(Buffer.from([0x03]), { startIndex: 0, endIndex: 0, shiftLeft: 2 })).toBe(12);
  });

  it('rejects indices past the end', () => {
    expect(() => decodeValue(Buffer.from([1]), { startIndex: 0, endIndex: 1 })).toThrow(RangeError);
  });
});

describe('encodeValue', () => {
  it('inverts decodeValue', () => {
    const bytes = encodeValue(21.37, temperature, { length: 3 });
    expect([...bytes]).toEqual([0x08, 0x59, 0]);
    expect(decodeValue(bytes, temperature)).toBeCloseTo(21.37);
    expect([...encodeValue(-5, temperature, { signed: true })]).toEqual([0xfe, 0x0c]);
    expect([...encodeValue(2137, { startIndex: 1, endIndex: 0 })]).toEqual([0x59, 0x08]);
  });

  it('keeps the other bytes of the value', () => {
    const bytes = encodeValue(42, { startIndex: 2, endIndex: 2 }, { into: Buffer.from([8, 0x59, 0]) });
    expect([...bytes]).toEqual([8, 0x59, 42]);
  });

  it('undoes the operations in reverse order and the shifts', () => {
    const converter = {
      startIndex: 0,
      endIndex: 0,
      shiftRight: 1,
      orderOfOperations: [
        { operationType: 'Multiply' as const, operationValue: 2 },
        { operationType: 'Add' as const, operationValue: 1 },
      ],
    };
    const bytes = encodeValue(21, converter);
    expect(decodeValue(bytes, converter)).toBe(21);
  });

  it('throws ValueOutOfRange when the value does not fit', () => {
    expect(() => encodeValue(600, temperature)).not.toThrow();
    expect(() => encodeValue(700, temperature)).toThrow(ValueOutOfRange);
    expect(() => encodeValue(400, temperature, { signed: true })).toThrow(ValueOutOfRange);
    expect(() => encodeValue(-1, { startIndex: 0, endIndex: 0 })).toThrow(ValueOutOfRange);
    expect(() => encodeValue(Number.NaN)).toThrow(ValueOutOfRange);
  });
});

describe('dataWrite', () => {
  const dataWrite = { ON: [1], OFF: [0] };
  it('maps a value to its bytes and back', () => {
    expect(dataWriteBytes(dataWrite, 'ON')).toEqual([1]);
    expect(dataWriteBytes(dataWrite, 'off')).toEqual([0]);
    expect(dataWriteBytes(dataWrite, 'dim')).toBeUndefined();
    expect(dataWriteBytes(undefined, 'ON')).toBeUndefined();
    expect(dataWriteKey(dataWrite, Buffer.from([0]))).toBe('OFF');
  });
});
