import { describe, expect, it } from 'vitest';
import {
  assign,
  extract,
  fill,
  lookup,
  place,
  placeholders,
  tokens,
  VALUE_PLACEHOLDER,
} from './json-pointer.js';

const V = VALUE_PLACEHOLDER;

describe('JSON pointers (RFC 6901)', () => {
  const doc = { a: [{ b: 1 }, { 'c/d': true, 'e~f': 'x' }], '': 0 };

  it('reads through objects and arrays, with ~1 and ~0 escapes', () => {
    expect(tokens('')).toEqual([]);
    expect(tokens('/a~1b/~0c/0')).toEqual(['a/b', '~c', '0']);
    expect(lookup(doc, '')).toEqual({ found: true, value: doc });
    expect(lookup(doc, '/a/0/b')).toEqual({ found: true, value: 1 });
    expect(lookup(doc, '/a/1/c~1d')).toEqual({ found: true, value: true });
    expect(lookup(doc, '/a/1/e~0f')).toEqual({ found: true, value: 'x' });
    expect(lookup(doc, '/')).toEqual({ found: true, value: 0 });
  });

  it('finds nothing past the end, at a non-index in an array, or inside a scalar', () => {
    for (const pointer of ['/a/2', '/a/01', '/a/-', '/a/length', '/a/0/b/c', '/z'])
      expect(lookup(doc, pointer), pointer).toEqual({ found: false });
  });

  it('assigns, creating objects and arrays on the way', () => {
    expect(assign({}, '/x/0/y', 5)).toEqual({ x: [{ y: 5 }] });
    expect(assign({ x: { z: 1 } }, '/x/y', true)).toEqual({ x: { z: 1, y: true } });
    expect(assign({}, '', 7)).toBe(7);
    expect(place('/relay/on', false)).toEqual({ relay: { on: false } });
    expect(place('', 21.5)).toBe(21.5);
  });
});

describe('write body templates', () => {
  it('put the typed value for the placeholder, its text inside a longer string', () => {
    expect(fill({ id: 0, on: V, tags: [V, `n=${V}`] }, true)).toEqual({
      id: 0,
      on: true,
      tags: [true, 'n=true'],
    });
    expect(fill(V, 12)).toBe(12);
    expect(placeholders({ a: [V, `x${V}`], b: 1 })).toBe(2);
  });

  it('give back the value of a body that matches the template, and nothing for one that does not', () => {
    const template = { id: 0, on: V };
    expect(extract(template, { id: 0, on: false })).toEqual({ found: true, value: false });
    expect(extract(template, { id: 1, on: false })).toEqual({ found: false });
    expect(extract(template, { id: 0, on: false, extra: 1 })).toEqual({ found: false });
    expect(extract({ cmd: `label=${V};` }, { cmd: 'label=a b;' })).toEqual({ found: true, value: 'a b' });
    expect(extract([V], [3])).toEqual({ found: true, value: 3 });
    expect(extract([V], { 0: 3 })).toEqual({ found: false });
  });
});
