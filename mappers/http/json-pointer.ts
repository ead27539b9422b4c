/**
 * RFC 6901 JSON pointers and the write-body templates of the http protocol: pure functions over parsed JSON,
 * shared by the driver (reads, writes) and the simulator (answers, received writes).
 */

/** What `${value}` in a write body stands for. */
export const VALUE_PLACEHOLDER = `\${value}`;

/** The unescaped tokens of a pointer: '' → [], '/a~1b/0' → ['a/b', '0']. */
export function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The value at `pointer` in `document`, or `{ found: false }` (an array takes only indices 0, 1, …). */
export function lookup(
  document: unknown,
  pointer: string,
): { found: true; value: unknown } | { found: false } {
  let node = document;
  for (const token of tokens(pointer)) {
    if (typeof node !== 'object' || node === null) return { found: false };
    if (Array.isArray(node) && !/^(0|[1-9]\d*)$/.test(token)) return { found: false };
    if (!Object.hasOwn(node, token)) return { found: false };
    node = (node as Record<string, unknown>)[token];
  }
  return { found: true, value: node };
}

/**
 * `document` with `value` at `pointer`, creating the objects on the way (an array where the next token is an
 * index); the root itself when the pointer is ''. Changes `document` in place.
 */
export function assign(document: unknown, pointer: string, value: unknown): unknown {
  const path = tokens(pointer);
  const last = path.pop();
  if (last === undefined) return value;
  const root = typeof document === 'object' && document !== null ? document : {};
  let node = root as Record<string, unknown>;
  for (const [i, token] of path.entries()) {
    const next = node[token];
    if (typeof next !== 'object' || next === null) node[token] = /^\d+$/.test(path[i + 1] ?? last) ? [] : {};
    node = node[token] as Record<string, unknown>;
  }
  node[last] = value;
  return root;
}

/** `value` at `pointer` in an otherwise empty document: /relay/on → {"relay": {"on": value}}. */
export function place(pointer: string, value: unknown): unknown {
  return tokens(pointer).reduceRight<unknown>((inner, token) => ({ [token]: inner }), value);
}

/** A body template with `${value}` put in: the typed value for the whole string, its text inside a longer one. */
export function fill(template: unknown, value: unknown): unknown {
  if (template === VALUE_PLACEHOLDER) return value;
  if (typeof template === 'string') return template.replaceAll(VALUE_PLACEHOLDER, String(value));
  if (Array.isArray(template)) return template.map((item) => fill(item, value));
  if (typeof template === 'object' && template !== null)
    return Object.fromEntries(Object.entries(template).map(([key, item]) => [key, fill(item, value)]));
  return template;
}

/** How many placeholders a body template holds (one expected). */
export function placeholders(template: unknown): number {
  if (typeof template === 'string') return template.split(VALUE_PLACEHOLDER).length - 1;
  if (typeof template !== 'object' || template === null) return 0;
  return Object.values(template).reduce((n: number, item) => n + placeholders(item), 0);
}

/**
 * The inverse of `fill`: the value a received body carries for a template, when every other part of the
 * template matches it (`{"id": 0, "on": "${value}"}` and `{"id": 0, "on": true}` → true); `{ found: false }` when
 * it does not match or holds no value.
 */
export function extract(
  template: unknown,
  body: unknown,
): { found: true; value: unknown } | { found: false } {
  let value: { found: true; value: unknown } | { found: false } = { found: false };
  const match = (t: unknown, b: unknown): boolean => {
    if (t === VALUE_PLACEHOLDER) {
      value = { found: true, value: b };
      return true;
    }
    if (typeof t === 'string' && t.includes(VALUE_PLACEHOLDER)) {
      const [head = '', tail = ''] = t.split(VALUE_PLACEHOLDER);
      if (typeof b !== 'string' || !b.startsWith(head) || !b.endsWith(tail)) return false;
      if (b.length < head.length + tail.length) return false;
      value = { found: true, value: b.slice(head.length, b.length - tail.length) };
      return true;
    }
    if (typeof t !== 'object' || t === null) return t === b;
    if (typeof b !== 'object' || b === null || Array.isArray(t) !== Array.isArray(b)) return false;
    const keys = Object.keys(t);
    if (Object.keys(b).length !== keys.length) return false;
    return keys.every(
      (key) =>
        Object.hasOwn(b, key) &&
        match((t as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
    );
  };
  return match(template, body) ? value : { found: false };
}
