/**
 * A FIFO with a bound: when full, the oldest entry is dropped and counted, so memory stays bounded when a
 * destination is slow, and the log can say what was lost.
 */
export class BoundedQueue<T> {
  private readonly items: T[] = [];
  dropped = 0;

  constructor(readonly limit: number) {}

  /** Adds `item`; returns the entry dropped to make room, if any. */
  push(item: T): T | undefined {
    this.items.push(item);
    if (this.items.length <= this.limit) return undefined;
    this.dropped++;
    return this.items.shift();
  }

  shift(): T | undefined {
    return this.items.shift();
  }

  get length(): number {
    return this.items.length;
  }
}
