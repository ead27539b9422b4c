/**
 * The runtime's timers, in one place so that `stop()` can prove it leaves none behind.
 * `every` never overlaps runs: a tick that is still running when the next is due is skipped, so a slow
 * device cannot pile up requests (the bound on in-flight work per cycle is one).
 */
export class Timers {
  private readonly handles = new Set<NodeJS.Timeout>();
  private readonly intervals = new Set<NodeJS.Timeout>();
  private stopped = false;

  /** Calls `fn` after `ms`, unless stopped first. */
  after(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const handle = setTimeout(() => {
      this.handles.delete(handle);
      fn();
    }, ms);
    this.handles.add(handle);
  }

  /**
   * Calls `fn` every `ms`, first after `ms` (or at once with `immediate`), never two runs at a time.
   * `spread` (a fraction in [0, 1), see `spreadOf`; default ½) shifts the runs after the first by
   * (spread − ½)·ms: timers started together then land spread over the whole period instead of at one
   * instant, while the gap from the first run to the second stays ms on average.
   */
  every(ms: number, fn: () => Promise<void>, options: { immediate?: boolean; spread?: number } = {}): void {
    if (this.stopped) return;
    let running = false;
    const finished = () => {
      running = false;
    };
    const tick = () => {
      if (this.stopped || running) return;
      running = true;
      fn().then(finished, finished);
    };
    if (options.immediate) queueMicrotask(tick);
    // One interval for the whole run, no timer made per tick; made where the second run is due, so that
    // runs due at the same time keep the order they had when each was started.
    this.after(Math.max(0, Math.round(ms * (0.5 + (options.spread ?? 0.5)))), () => {
      this.intervals.add(setInterval(tick, ms));
      tick();
    });
  }

  get size(): number {
    return this.handles.size + this.intervals.size;
  }

  /** Clears every timer; later calls to `after`/`every` do nothing. */
  stop(): void {
    this.stopped = true;
    for (const handle of this.handles) clearTimeout(handle);
    for (const handle of this.intervals) clearInterval(handle);
    this.handles.clear();
    this.intervals.clear();
  }
}

/**
 * Where in its period a timer keyed `key` (a device's id) runs, as a fraction in [0, 1): the same for the
 * same key on every start, and uniform over many keys (FNV-1a). Devices that share a line or a gateway and
 * start together then take turns spread over the period rather than queueing behind each other at once.
 */
export function spreadOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) / 2 ** 32;
}
