import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROPERTY_TYPES } from './schema/device-model.js';
import {
  checkTwinValue,
  formatTwinValue,
  outOfRange,
  parseTwinValue,
  sameTwinValue,
  TWIN_VALUE_TYPES,
  twinTypeNamed,
  twinTypeOf,
  twinValueProblem,
} from './values.js';

const value = (parsed: ReturnType<typeof parseTwinValue>) => (parsed.ok ? parsed.value : parsed.reason);

describe('parseTwinValue', () => {
  it('reads INT as a safe integer and nothing else', () => {
    expect(parseTwinValue('INT', '42')).toEqual({ ok: true, value: 42 });
    expect(parseTwinValue('INT', '-7')).toEqual({ ok: true, value: -7 });
    expect(parseTwinValue('INT', '+7')).toEqual({ ok: true, value: 7 });
    for (const bad of ['abc', '1.5', '', ' 1', '1e3', '0x10', '9007199254740993'])
      expect(parseTwinValue('INT', bad).ok, bad).toBe(false);
    expect(value(parseTwinValue('INT', 'abc'))).toBe('"abc" is not an INT');
  });

  it('reads FLOAT and DOUBLE decimals, rejecting junk and overflow', () => {
    expect(parseTwinValue('FLOAT', '21.5')).toEqual({ ok: true, value: 21.5 });
    expect(parseTwinValue('DOUBLE', '-1.5e-3')).toEqual({ ok: true, value: -0.0015 });
    expect(parseTwinValue('FLOAT', '.5')).toEqual({ ok: true, value: 0.5 });
    expect(parseTwinValue('FLOAT', '1e38')).toEqual({ ok: true, value: 1e38 });
    for (const bad of ['abc', 'NaN', 'Infinity', '1,5', '', '0x1p3'])
      expect(parseTwinValue('DOUBLE', bad).ok, bad).toBe(false);
    expect(value(parseTwinValue('FLOAT', '1e39'))).toBe('"1e39" is out of range for FLOAT');
    expect(parseTwinValue('DOUBLE', '1e39').ok).toBe(true);
    expect(parseTwinValue('DOUBLE', '1e309').ok).toBe(false);
  });

  it('reads BOOLEAN with the spellings of Go strconv.ParseBool', () => {
    for (const yes of ['1', 't', 'T', 'TRUE', 'true', 'True'])
      expect(parseTwinValue('BOOLEAN', yes), yes).toEqual({ ok: true, value: true });
    for (const no of ['0', 'f', 'F', 'FALSE', 'false', 'False'])
      expect(parseTwinValue('BOOLEAN', no), no).toEqual({ ok: true, value: false });
    for (const bad of ['yes', 'on', 'tRUE', '', '2'])
      expect(parseTwinValue('BOOLEAN', bad).ok, bad).toBe(false);
  });

  it('passes STRING through untouched', () => {
    expect(parseTwinValue('STRING', ' any text ')).toEqual({ ok: true, value: ' any text ' });
  });
});

describe('formatTwinValue', () => {
  it('gives the canonical twin string', () => {
    expect(formatTwinValue('INT', 41.6)).toBe('42');
    expect(formatTwinValue('DOUBLE', 21.5)).toBe('21.5');
    expect(formatTwinValue('BOOLEAN', true)).toBe('true');
    expect(formatTwinValue('BOOLEAN', 'true')).toBe('true');
    expect(formatTwinValue('BOOLEAN', false)).toBe('false');
    expect(formatTwinValue('STRING', 'x')).toBe('x');
  });
});

describe('checkTwinValue and outOfRange', () => {
  const bounds = { minimum: '-40', maximum: '125' };

  it('accepts values inside the bounds, inclusive', () => {
    expect(checkTwinValue('FLOAT', '-40', bounds)).toEqual({ ok: true, value: -40 });
    expect(checkTwinValue('FLOAT', '125', bounds)).toEqual({ ok: true, value: 125 });
    expect(checkTwinValue('INT', '7', {})).toEqual({ ok: true, value: 7 });
  });

  it('rejects values outside the bounds, saying which', () => {
    expect(value(checkTwinValue('FLOAT', '125.5', bounds))).toBe('125.5 is above the maximum 125');
    expect(value(checkTwinValue('INT', '-41', bounds))).toBe('-41 is below the minimum -40');
    expect(checkTwinValue('DOUBLE', '200', { maximum: '125' }).ok).toBe(false);
  });

  it('reports a parse failure before any range check', () => {
    expect(value(checkTwinValue('INT', '1.5', bounds))).toBe('"1.5" is not an INT');
  });

  it('ignores bounds for non-numeric types', () => {
    expect(outOfRange('STRING', 'zzz', { maximum: '1' })).toBeUndefined();
    expect(checkTwinValue('BOOLEAN', 'true', { maximum: '0' }).ok).toBe(true);
  });
});

describe('sameTwinValue', () => {
  it.each<[string | undefined, string, string, boolean]>([
    ['float', '24', '24.0', true],
    ['float', '23.5', '23.50', true],
    ['float', '23.55', '23.5', false],
    ['float', '1e2', '100', true],
    ['float', '-0', '0', true],
    ['double', '.5', '0.5', true],
    ['FLOAT', '24', '24.0', true],
    ['int', '24', '24.0', true],
    ['int', '+7', '7', true],
    ['int', '007', '7', true],
    ['int', '9007199254740993', '9007199254740992', false],
    ['integer', '-3', '-3.0', true],
    ['int', '24', '25', false],
    ['boolean', '1', 'true', true],
    ['boolean', 'T', 'TRUE', true],
    ['boolean', 'f', 'false', true],
    ['boolean', '0', 'true', false],
    ['BOOLEAN', 'False', '0', true],
    ['string', '24', '24.0', false],
    ['string', 'on', 'on', true],
    ['bytes', 'AQ==', 'AQ==', true],
    [undefined, '1', 'true', false],
    [undefined, 'x', 'x', true],
    ['float', 'warm', 'warm', true],
    ['float', 'warm', 'Warm', false],
    ['float', '', '0', false],
    ['float', '24', '', false],
    ['boolean', 'yes', 'true', false],
    ['boolean', 'yes', 'yes', true],
    ['int', 'NaN', 'NaN', true],
  ])('%s: "%s" and "%s" → %s', (type, a, b, same) => {
    expect(sameTwinValue(type, a, b)).toBe(same);
    expect(sameTwinValue(type, b, a)).toBe(same);
  });
});

describe('round trips', () => {
  it('INT: parse(format(n)) = n for every safe integer', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        expect(parseTwinValue('INT', formatTwinValue('INT', n))).toEqual({ ok: true, value: n });
      }),
    );
  });

  it('DOUBLE: parse(format(x)) = x for every finite double', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const parsed = parseTwinValue('DOUBLE', formatTwinValue('DOUBLE', x));
        expect(parsed.ok && parsed.value === x).toBe(true);
      }),
    );
  });
});

describe('twin types, in KubeEdge’s set', () => {
  it('types every model property with one KubeEdge’s edgecore takes, keeping the model type where it is finer', () => {
    expect(Object.fromEntries(PROPERTY_TYPES.map((t) => [t, twinTypeOf(t)]))).toEqual({
      INT: { type: 'int' },
      FLOAT: { type: 'float' },
      DOUBLE: { type: 'float', modelType: 'DOUBLE' },
      STRING: { type: 'string' },
      BOOLEAN: { type: 'boolean' },
      BYTES: { type: 'string', modelType: 'BYTES' },
      STREAM: { type: 'string', modelType: 'STREAM' },
    });
    for (const t of PROPERTY_TYPES) expect(TWIN_VALUE_TYPES).toContain(twinTypeOf(t).type);
  });

  it.each<[string | null | undefined, ReturnType<typeof twinTypeNamed>]>([
    ['int', { type: 'int' }],
    ['integer', { type: 'integer' }],
    ['float', { type: 'float' }],
    ['boolean', { type: 'boolean' }],
    ['string', { type: 'string' }],
    ['deleted', { type: 'deleted' }],
    ['', { type: 'string' }],
    [undefined, { type: 'string' }],
    [null, { type: 'string' }],
    ['double', { type: 'float', modelType: 'DOUBLE' }],
    ['bytes', { type: 'string', modelType: 'BYTES' }],
    ['stream', { type: 'string', modelType: 'STREAM' }],
    ['INT', undefined],
    ['Float', undefined],
    ['number', undefined],
    ['constructor', undefined],
  ])('reads the name %j as %j', (name, type) => {
    expect(twinTypeNamed(name)).toEqual(type);
  });
});

describe('twinValueProblem: KubeEdge’s dtcommon.ValidateValue', () => {
  it.each([
    ['int', ['0', '-42', '+7', '007', '9223372036854775807', '-9223372036854775808']],
    ['integer', ['12']],
    [
      'float',
      ['1', '-1.5', '.5', '5.', '1e3', '1E-3', 'NaN', 'nan', 'inf', '+Inf', '-Infinity', '0x1p-2', '0X.8P1'],
    ],
    ['boolean', ['true', 'false']],
    ['string', ['', 'anything at all']],
    ['deleted', ['x']],
  ])('takes these %s values', (type, values) => {
    for (const value of values) expect(twinValueProblem(type, value), value).toBeUndefined();
  });

  it.each([
    ['int', ['', '1.5', '1e3', ' 1', '0x10', '9223372036854775808', '-9223372036854775809', '1_000']],
    ['float', ['', 'abc', '1,5', '1e309', '-1e309', '0x1p99999', '0x10', '+nan', 'infinit', '1_000']],
    ['boolean', ['True', 'TRUE', '1', 'yes', '']],
  ])('refuses these %s values', (type, values) => {
    for (const value of values) expect(twinValueProblem(type, value), value).toMatch(/is not a/);
  });
});
