import { abortable } from './call.js';

/**
 * Runs work one at a time, in the order it was queued: one device's requests, or every request on a
 * half-duplex line. A caller whose signal aborts while waiting is rejected at once and its work never starts.
 * Work that started holds the queue until the caller has its answer or gave up, or, with `holdUntilSettled`,
 * until the work itself settles (on a line, a late answer would otherwise collide with the next request).
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(private readonly options: { holdUntilSettled?: boolean } = {}) {}

  /** Requests queued or running. */
  get length(): number {
    return this.pending;
  }

  run<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const previous = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.pending++;
    let started: Promise<T> | undefined;
    const result = (async () => {
      await (signal ? abortable(previous, signal) : previous);
      started = work();
      return signal ? abortable(started, signal) : started;
    })();
    const finish = () => {
      this.pending--;
      release();
    };
    result.then(finish, () => {
      // Never started: the turn passes on after the one before. Started: after it settles, if asked to.
      if (!started) void previous.then(finish);
      else if (this.options.holdUntilSettled) started.then(finish, finish);
      else finish();
    });
    return result;
  }
}
