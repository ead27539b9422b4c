/**
 * Finds the values subscribed to MQTT filters that match a topic, in time independent of how many filters
 * there are: filters without wildcards in a Map (one lookup), filters with `+` or `#` in a trie walked level
 * by level. Matching follows `topicMatches` (topics.ts): `+` is one level (possibly empty), `#` the rest
 * including none (`a/#` matches `a`), and a filter starting with a wildcard never matches a `$` topic.
 * Values come back in the order they were added. Filters are assumed valid (`isValidFilter`); a value is
 * held under one filter at a time (as the EventBus holds each subscription).
 */
export class TopicRouter<T> {
  private readonly exact = new Map<string, Set<T>>();
  private readonly root = new TrieNode<T>();
  private readonly order = new Map<T, number>();
  private wildcards = 0;
  private added = 0;

  /** Adds `value` under `filter`. */
  add(filter: string, value: T): void {
    if (!this.order.has(value)) this.order.set(value, this.added++);
    if (!hasWildcard(filter)) {
      const values = this.exact.get(filter) ?? new Set<T>();
      this.exact.set(filter, values.add(value));
      return;
    }
    let node = this.root;
    for (const level of filter.split('/')) node = node.child(level);
    if (!node.values.has(value)) this.wildcards++;
    node.values.add(value);
  }

  /** Removes `value` from `filter` (nothing when it is not there), pruning what is left empty. */
  remove(filter: string, value: T): void {
    this.order.delete(value);
    if (!hasWildcard(filter)) {
      const values = this.exact.get(filter);
      if (values?.delete(value) && values.size === 0) this.exact.delete(filter);
      return;
    }
    const path: TrieNode<T>[] = [this.root];
    const levels = filter.split('/');
    for (const level of levels) {
      const next = path[path.length - 1]!.children.get(level);
      if (!next) return;
      path.push(next);
    }
    if (!path[path.length - 1]!.values.delete(value)) return;
    this.wildcards--;
    for (let i = levels.length; i > 0 && path[i]!.empty; i--) path[i - 1]!.children.delete(levels[i - 1]!);
  }

  /** Every value whose filter matches `topic`, in the order the values were first added. */
  match(topic: string): T[] {
    const exact = this.exact.get(topic);
    if (this.wildcards === 0) return exact ? [...exact] : [];
    const found = new Set<T>(exact);
    collect(this.root, topic.split('/'), 0, topic.startsWith('$'), found);
    const values = [...found];
    if (values.length > 1) values.sort((a, b) => this.order.get(a)! - this.order.get(b)!);
    return values;
  }

  /** Whether any filter matches `topic`: `match(topic).length > 0`, without collecting the values. */
  has(topic: string): boolean {
    if (this.exact.has(topic)) return true;
    return this.wildcards > 0 && any(this.root, topic.split('/'), 0, topic.startsWith('$'));
  }

  /** Forgets every filter. */
  clear(): void {
    this.exact.clear();
    this.root.children.clear();
    this.root.values.clear();
    this.order.clear();
    this.wildcards = 0;
  }

  /** How many filter-value pairs are held. */
  get size(): number {
    let size = this.wildcards;
    for (const values of this.exact.values()) size += values.size;
    return size;
  }
}

class TrieNode<T> {
  readonly children = new Map<string, TrieNode<T>>();
  readonly values = new Set<T>();

  child(level: string): TrieNode<T> {
    const next = this.children.get(level) ?? new TrieNode<T>();
    this.children.set(level, next);
    return next;
  }

  get empty(): boolean {
    return this.values.size === 0 && this.children.size === 0;
  }
}

/** Adds the values under `node` that match `levels` from `i` on; `dollar`: no wildcard at the first level. */
function collect<T>(node: TrieNode<T>, levels: string[], i: number, dollar: boolean, found: Set<T>): void {
  const wild = !(dollar && i === 0);
  if (wild) {
    const hash = node.children.get('#');
    if (hash) for (const value of hash.values) found.add(value);
  }
  if (i === levels.length) {
    for (const value of node.values) found.add(value);
    return;
  }
  const named = node.children.get(levels[i]!);
  if (named) collect(named, levels, i + 1, dollar, found);
  const plus = wild ? node.children.get('+') : undefined;
  if (plus) collect(plus, levels, i + 1, dollar, found);
}

/** Whether a value under `node` matches `levels` from `i` on (collect's walk, stopping at the first). */
function any<T>(node: TrieNode<T>, levels: string[], i: number, dollar: boolean): boolean {
  const wild = !(dollar && i === 0);
  if (wild && (node.children.get('#')?.values.size ?? 0) > 0) return true;
  if (i === levels.length) return node.values.size > 0;
  const named = node.children.get(levels[i]!);
  if (named && any(named, levels, i + 1, dollar)) return true;
  const plus = wild ? node.children.get('+') : undefined;
  return plus !== undefined && any(plus, levels, i + 1, dollar);
}

function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}
