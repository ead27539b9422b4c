import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TopicRouter } from './topic-router.js';
import { isValidFilter, topicMatches } from './topics.js';

/** [filter, topic, matches]: MQTT 3.1.1 §4.7, and what `topicMatches` has always answered. */
const cases: [string, string, boolean][] = [
  ['a/b', 'a/b', true],
  ['a/b', 'a/b/c', false],
  ['a/b', 'a', false],
  ['a/b', 'A/b', false],
  ['+', 'a', true],
  ['+', 'a/b', false],
  ['+', '', true],
  ['a/+', 'a/', true], // + matches an empty level
  ['a/+', 'a', false],
  ['a/+/c', 'a/b/c', true],
  ['a/+/c', 'a/b/d', false],
  ['+/+', '/finance', true],
  ['/+', '/finance', true],
  ['+', '/finance', false],
  ['#', 'a/b/c', true],
  ['#', '/', true],
  ['a/#', 'a', true], // # matches the parent level too
  ['a/#', 'a/b', true],
  ['a/#', 'a/b/c', true],
  ['a/#', 'ab', false],
  ['a/b/#', 'a', false],
  ['+/#', 'a', true],
  ['+/b/#', 'a/b', true],
  ['+/+/#', 'a', false],
  // A filter starting with a wildcard does not match a topic starting with $.
  ['#', '$SYS/broker', false],
  ['+/broker', '$SYS/broker', false],
  ['+/#', '$hw/events', false],
  ['$SYS/#', '$SYS/broker', true],
  ['$SYS/+', '$SYS/broker', true],
  ['$hw/events/device/+/+/twin/update', '$hw/events/device/ns/d1/twin/update', true],
  ['$hw/events/device/+/+/twin/update', '$hw/events/device/ns/d1/twin/update/result', false],
  ['$hw/events/device/ns/+/twin/#', '$hw/events/device/ns/d1/twin/update/delta', true],
  ['$hw/events/upload/#', '$hw/events/upload', true],
  ['a/+/#', 'a/b/c/d', true],
];

describe('TopicRouter', () => {
  it.each(cases)('%s against %s: %s (as topicMatches)', (filter, topic, matches) => {
    expect(topicMatches(filter, topic)).toBe(matches);
    const router = new TopicRouter<string>();
    router.add(filter, 'x');
    expect(router.match(topic)).toEqual(matches ? ['x'] : []);
  });

  it('finds every matching filter among many, in the order added, once each', () => {
    const router = new TopicRouter<string>();
    for (const [i, [filter]] of cases.entries()) router.add(filter, `${i}:${filter}`);
    for (const [, topic] of cases) {
      const expected = cases.flatMap(([filter], i) =>
        topicMatches(filter, topic) ? [`${i}:${filter}`] : [],
      );
      expect(router.match(topic)).toEqual(expected);
    }
  });

  it('holds several values under one filter, and removes them one by one', () => {
    const router = new TopicRouter<number>();
    router.add('a/+', 1);
    router.add('a/b', 2);
    router.add('a/+', 3);
    router.add('#', 4);
    expect(router.match('a/b')).toEqual([1, 2, 3, 4]);
    router.remove('a/+', 1);
    expect(router.match('a/b')).toEqual([2, 3, 4]);
    router.remove('a/b', 2);
    router.remove('#', 4);
    expect(router.match('a/b')).toEqual([3]);
    router.remove('a/+', 3);
    expect(router.match('a/b')).toEqual([]);
    expect(router.size).toBe(0);
  });

  it('ignores removing what is not there', () => {
    const router = new TopicRouter<number>();
    router.add('a/+/c', 1);
    router.remove('a/+/d', 1);
    router.remove('a/+', 1);
    router.remove('a/b', 1);
    router.remove('a/+/c', 2);
    expect(router.match('a/b/c')).toEqual([1]);
    expect(router.size).toBe(1);
  });

  it('prunes the trie: a removed filter leaves no branch that still matches', () => {
    const router = new TopicRouter<number>();
    router.add('a/+/c/#', 1);
    router.add('a/+', 2);
    router.remove('a/+/c/#', 1);
    expect(router.match('a/b/c/d')).toEqual([]);
    expect(router.match('a/b')).toEqual([2]);
  });

  it('answers as topicMatches for arbitrary filters and topics, match and has alike', () => {
    const level = fc.constantFrom('a', 'b', '', '$x', '+', '#');
    const filter = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
    const topic = fc
      .array(fc.constantFrom('a', 'b', '', '$x'), { minLength: 1, maxLength: 4 })
      .map((l) => l.join('/'));
    fc.assert(
      fc.property(fc.uniqueArray(filter.filter(isValidFilter), { maxLength: 8 }), topic, (filters, t) => {
        const router = new TopicRouter<string>();
        for (const f of filters) router.add(f, f);
        expect(router.match(t)).toEqual(filters.filter((f) => topicMatches(f, t)));
        expect(router.has(t)).toBe(filters.some((f) => topicMatches(f, t)));
        // and once some are removed again (pruned branches must not answer)
        for (const f of filters.slice(0, filters.length / 2)) router.remove(f, f);
        expect(router.has(t)).toBe(filters.slice(filters.length / 2).some((f) => topicMatches(f, t)));
      }),
    );
  });
});
