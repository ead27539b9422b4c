import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ModelProperty, TwinValueError } from '../../device-models/index.js';
import { decodeRegisters, fromTwin, toTwin } from './index.js';
import { encodeRegisters } from './modbus-registers.js';

const temperature: ModelProperty = { name: 'temperature', type: 'FLOAT', minimum: '-40', maximum: '125' };
const float: ModelProperty = { name: 'f', type: 'FLOAT' };
const double: ModelProperty = { name: 'd', type: 'DOUBLE' };
const int: ModelProperty = { name: 'count', type: 'INT' };
const bool: ModelProperty = { name: 'alarm', type: 'BOOLEAN' };
const text: ModelProperty = { name: 'label', type: 'STRING' };

describe('toTwin', () => {
  it('prints float32 readings as their shortest decimal', () => {
    const register = (x: number) =>
      decodeRegisters(encodeRegisters(x, { dataType: 'float32' }), { dataType: 'float32' });
    expect(toTwin(float, register(21.5))).toBe('21.5');
    expect(toTwin(float, register(0.1))).toBe('0.1');
    expect(toTwin(float, register(123.456))).toBe('123.456');
    expect(toTwin(float, 16777218)).toBe('16777218');
    expect(toTwin(float, Math.fround(1e-7))).toBe('1e-7');
  });

  it('prints DOUBLE values in full unless told they came from a float32', () => {
    expect(toTwin(double, Math.fround(0.1))).toBe('0.10000000149011612');
    expect(toTwin(double, Math.fround(0.1), { float32: true })).toBe('0.1');
    expect(toTwin(double, 0.1 + 0.2)).toBe('0.30000000000000004');
    expect(toTwin(double, 0.1 + 0.2, { precision: 15 })).toBe('0.3');
    expect(toTwin(float, 21.456, { precision: 3 })).toBe('21.5');
  });

  it('prints INT, BOOLEAN and STRING values canonically', () => {
    expect(toTwin(int, 7)).toBe('7');
    expect(toTwin(int, 6.6)).toBe('7');
    expect(toTwin(int, '+12')).toBe('12');
    expect(toTwin(int, true)).toBe('1');
    expect(toTwin(bool, true)).toBe('true');
    expect(toTwin(bool, 0)).toBe('false');
    expect(toTwin(bool, 2)).toBe('true');
    expect(toTwin(bool, 'T')).toBe('true');
    expect(toTwin(bool, '0')).toBe('false');
    expect(toTwin(text, 'hello')).toBe('hello');
  });

  it('throws TwinValueError, naming the property, for values the type cannot hold', () => {
    expect(() => toTwin(float, Number.NaN)).toThrow(TwinValueError);
    expect(() => toTwin(double, Number.POSITIVE_INFINITY)).toThrow(/^d: /);
    expect(() => toTwin(int, 'abc')).toThrow(/count: "abc" is not an INT/);
    expect(() => toTwin(bool, 'yes')).toThrow(TwinValueError);
  });

  it('FLOAT text reads back as the same float32, in at most 9 significant digits', () => {
    const max = Math.fround(3.4e38);
    fc.assert(
      fc.property(fc.float({ min: -max, max, noNaN: true }), (x) => {
        const printed = toTwin(float, x);
        const significant = printed
          .replace(/e.*$/, '')
          .replace(/[-.]/g, '')
          .replace(/^0+|0+$/g, '');
        expect(significant.length).toBeLessThanOrEqual(9);
        expect(Math.fround(fromTwin(float, printed) as number)).toBe(x === 0 ? 0 : x);
      }),
    );
  });

  it('DOUBLE and INT text reads back as the same value', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        expect(fromTwin(double, toTwin(double, x))).toBe(x === 0 ? 0 : x);
      }),
    );
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        expect(fromTwin(int, toTwin(int, n))).toBe(n);
      }),
    );
  });
});

describe('fromTwin', () => {
  it('parses twin strings as the property type', () => {
    expect(fromTwin(temperature, '21.5')).toBe(21.5);
    expect(fromTwin(int, '-3')).toBe(-3);
    expect(fromTwin(bool, 'True')).toBe(true);
    expect(fromTwin(text, 'anything')).toBe('anything');
  });

  it('throws TwinValueError naming the property on a parse or range failure', () => {
    expect(() => fromTwin(temperature, '200')).toThrow(TwinValueError);
    expect(() => fromTwin(temperature, '200')).toThrow('temperature: 200 is above the maximum 125');
    expect(() => fromTwin(temperature, '-41')).toThrow('temperature: -41 is below the minimum -40');
    expect(() => fromTwin(int, 'abc')).toThrow('count: "abc" is not an INT');
    expect(() => fromTwin(int, '1.5')).toThrow(TwinValueError);
    expect(() => fromTwin(bool, 'yes')).toThrow(/^alarm: /);
  });
});
