/**
 * The runtime's timers, in one place so that `stop()` can prove it leaves none behind.
 * `every` never overlaps runs: a tick that is still running when the next is due is skipped, so a slow
 * device cannot pile up requests (the bound on in-flight work per cycle is one).
 */
export class Timers {
  private readonly handles = new Set<NodeJS.Timeout>();
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

  /** Calls `fn` every `ms`, first after `ms` (or at once with `immediate`), never two runs at a time. */
  every(ms: number, fn: () => Promise<void>, options: { immediate?: boolean } = {}): void {
    let running = false;
    const tick = () => {
      if (this.stopped) return;
      this.after(ms, tick);
      if (running) return;
      running = true;
      fn().finally(() => {
        running = false;
      });
    };
    if (options.immediate) queueMicrotask(tick);
    else this.after(ms, tick);
  }

  get size(): number {
    return this.handles.size;
  }

  /** Clears every timer; later calls to `after`/`every` do nothing. */
  stop(): void {
    this.stopped = true;
    for (const handle of this.handles) clearTimeout(handle);
    this.handles.clear();
  }
}
