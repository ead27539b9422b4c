import { type AbortSource, abortable, abortReasonOf, listen, unlisten } from './call.js';

/** Work waiting for its turn, and how to answer its caller. */
interface Waiter {
  work: () => Promise<unknown>;
  signal: AbortSource | undefined;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
  onAbort: (() => void) | undefined;
}

/**
 * Runs work one at a time, in the order it was queued: one device's requests, or every request on a
 * half-duplex line. A caller whose signal aborts while waiting is rejected at once and its work never starts.
 * Work that started holds the queue until the caller has its answer or gave up, or, with `holdUntilSettled`,
 * until the work itself settles (on a line, a late answer would otherwise collide with the next request).
 * An idle queue starts work at once, with nothing to wait on: most requests find it idle.
 */
export class SerialQueue {
  private busy = false;
  private readonly waiting: Waiter[] = [];
  /** Index of the first live entry of `waiting` (shifted lazily, so that taking a turn is O(1)). */
  private head = 0;
  private readonly next = () => this.pass();

  constructor(private readonly options: { holdUntilSettled?: boolean } = {}) {}

  /** Requests queued or running. */
  get length(): number {
    return this.waiting.length - this.head + (this.busy ? 1 : 0);
  }

  run<T>(work: () => Promise<T>, signal?: AbortSource): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortReasonOf(signal));
    if (!this.busy) {
      this.busy = true;
      return this.start(work, signal);
    }
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        work,
        signal,
        resolve: resolve as (value: unknown) => void,
        reject,
        onAbort: undefined,
      };
      if (signal) {
        waiter.onAbort = () => {
          this.forget(waiter);
          reject(abortReasonOf(signal));
        };
        listen(signal, waiter.onAbort);
      }
      this.waiting.push(waiter);
    });
  }

  private start<T>(work: () => Promise<T>, signal: AbortSource | undefined): Promise<T> {
    let started: Promise<T>;
    try {
      started = work();
    } catch (error) {
      started = Promise.reject(error);
    }
    const answer = signal ? abortable(started, signal) : started;
    // The turn passes on once the caller has its answer, or, if asked, once the work itself has settled.
    if (this.options.holdUntilSettled || answer === started) started.then(this.next, this.next);
    else answer.then(this.next, this.next);
    return answer;
  }

  /** The running work is done with the queue: the next waiter starts, or the queue goes idle. */
  private pass(): void {
    const waiter = this.waiting[this.head];
    if (!waiter) {
      this.waiting.length = 0;
      this.head = 0;
      this.busy = false;
      return;
    }
    this.waiting[this.head++] = undefined as never;
    if (this.head > 64 && this.head * 2 > this.waiting.length) {
      this.waiting.splice(0, this.head);
      this.head = 0;
    }
    if (waiter.onAbort) unlisten(waiter.signal!, waiter.onAbort);
    this.start(waiter.work, waiter.signal).then(waiter.resolve, waiter.reject);
  }

  /** A waiter whose caller gave up: its work never starts. */
  private forget(waiter: Waiter): void {
    const at = this.waiting.indexOf(waiter, this.head);
    if (at >= 0) this.waiting.splice(at, 1);
  }
}
