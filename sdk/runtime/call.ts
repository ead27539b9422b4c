import { DeviceUnavailable, ProtocolTimeout } from '../errors.js';
import { type DeadlineEntry, type DeadlineList, schedule, unschedule } from './deadlines.js';

/**
 * What the runtime hands to every driver call: a signal that aborts at the call's deadline (its reason a
 * ProtocolTimeout) or when the device is stopped (a DeviceUnavailable), and the time the call was given.
 * A driver passes `timeoutMs` to libraries that have their own timeout, and wraps the others in `abortable`.
 */
export interface Call {
  signal: AbortSignal;
  timeoutMs: number;
}

/**
 * The runtime's own abort: an AbortController and its signal in one, with listeners in a list instead of an
 * EventTarget, and an AbortSignal made only when something asks for `signal` (a driver handing it to a
 * library). Every request goes through several of these, so they must cost next to nothing when nothing aborts.
 */
export class Abort {
  private why: Error | undefined;
  private first: (() => void) | undefined;
  private rest: (() => void)[] | undefined;
  private controller: AbortController | undefined;

  get aborted(): boolean {
    return this.why !== undefined;
  }

  /** Why it aborted; undefined until it has. */
  get reason(): Error | undefined {
    return this.why;
  }

  /** A standard AbortSignal that aborts with this, for libraries; made on first use. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.why) this.controller.abort(this.why);
    }
    return this.controller.signal;
  }

  /** Aborts with `reason` (the first reason wins) and calls every listener once. */
  abort(reason: Error): void {
    if (this.why) return;
    this.why = reason;
    const { first, rest } = this;
    this.first = undefined;
    this.rest = undefined;
    this.controller?.abort(reason);
    first?.();
    if (rest) for (const listener of rest) listener();
  }

  /** Calls `listener` once when this aborts (at once if it has). */
  on(listener: () => void): void {
    if (this.why) listener();
    else if (!this.first) this.first = listener;
    else if (this.rest) this.rest.push(listener);
    else this.rest = [listener];
  }

  /** Forgets a listener given to `on`. */
  off(listener: () => void): void {
    if (this.first === listener) this.first = undefined;
    else if (this.rest) {
      const at = this.rest.indexOf(listener);
      if (at >= 0) this.rest.splice(at, 1);
    }
  }
}

/** What can abort work: a standard AbortSignal, or the runtime's own Abort (a call, a device's stop). */
export type AbortSource = AbortSignal | Abort;

/** What aborts `call`: the call itself when the runtime made it (no AbortSignal needed), else its signal. */
export function abortOf(call: Call): AbortSource {
  return call instanceof Abort ? call : call.signal;
}

/** Calls `listener` once when `source` aborts; `unlisten` forgets it. */
export function listen(source: AbortSource, listener: () => void): void {
  if (source instanceof Abort) source.on(listener);
  else source.addEventListener('abort', listener, { once: true });
}

export function unlisten(source: AbortSource, listener: () => void): void {
  if (source instanceof Abort) source.off(listener);
  else source.removeEventListener('abort', listener);
}

const SIGNAL: PropertyDescriptor = {
  enumerable: true,
  get: Object.getOwnPropertyDescriptor(Abort.prototype, 'signal')!.get!,
};

/**
 * A call run by the runtime: its deadline sits on the process's shared deadline lists (no timer of its own),
 * its parent's abort reaches it through a listener, and its `signal` is made only if a driver reads it.
 */
class RuntimeCall extends Abort implements Call, DeadlineEntry {
  due = 0;
  prevDue: DeadlineEntry | undefined = undefined;
  nextDue: DeadlineEntry | undefined = undefined;
  dueList: DeadlineList | undefined = undefined;
  private readonly onParent: (() => void) | undefined;

  constructor(
    private readonly ms: number,
    private readonly what: string,
    private readonly parent: AbortSource | undefined,
    readonly timeoutMs: number,
  ) {
    super();
    // An own property, so that a driver spreading its call (`{ ...call, timeoutMs }`) keeps a signal.
    Object.defineProperty(this, 'signal', SIGNAL);
    if (parent?.aborted) this.abort(abortReasonOf(parent));
    else {
      schedule(this, ms);
      if (parent) {
        this.onParent = () => this.abort(abortReasonOf(parent));
        listen(parent, this.onParent);
      }
    }
  }

  expire(): void {
    this.abort(new ProtocolTimeout(`${this.what}: no answer within ${this.ms} ms`));
  }

  /** Clears its deadline and its parent listener. */
  done(): void {
    unschedule(this);
    if (this.onParent) unlisten(this.parent!, this.onParent);
  }

  /** `running`, or this call's abort reason as soon as it aborts; `done()` when either settles. */
  settle<T>(running: Promise<T>): Promise<T> {
    if (this.aborted) {
      this.done();
      running.catch(() => {});
      return Promise.reject(this.reason);
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.done();
        reject(this.reason);
      };
      this.on(onAbort);
      running.then(
        (value) => {
          this.off(onAbort);
          this.done();
          resolve(value);
        },
        (error: unknown) => {
          this.off(onAbort);
          this.done();
          reject(error);
        },
      );
    });
  }
}

/**
 * A call that times out after `ms`, optionally also aborted by `parent`; `done()` clears its deadline. The
 * driver sees `timeoutMs` (default `ms`): the time one request may take, where `ms` bounds the whole call.
 */
export function startCall(
  ms: number,
  what: string,
  parent?: AbortSource,
  timeoutMs = ms,
): Call & { done(): void } {
  return new RuntimeCall(ms, what, parent, timeoutMs);
}

/** Runs `work` with a call of `ms`; the deadline and listeners are gone when it settles, however it settles. */
export function withCall<T>(
  ms: number,
  what: string,
  work: (call: Call) => Promise<T>,
  parent?: AbortSource,
  timeoutMs = ms,
): Promise<T> {
  const call = new RuntimeCall(ms, what, parent, timeoutMs);
  let running: Promise<T>;
  try {
    running = work(call);
  } catch (error) {
    running = Promise.reject(error);
  }
  return call.settle(running);
}

/** A call for tests and scripts: a plain timeout of `ms`. */
export function deadline(ms: number): Call {
  return { signal: AbortSignal.timeout(ms), timeoutMs: ms };
}

/**
 * `promise`, or the signal's reason as soon as it aborts (a ProtocolTimeout for a timeout). The listener is
 * removed when either settles, so nothing stays reachable from a long-lived signal.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSource): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortReasonOf(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReasonOf(signal));
    listen(signal, onAbort);
    promise.then(
      (value) => {
        unlisten(signal, onAbort);
        resolve(value);
      },
      (error: unknown) => {
        unlisten(signal, onAbort);
        reject(error);
      },
    );
  });
}

/** Why a source aborted, as one of our errors. */
export function abortReasonOf(source: AbortSource): Error {
  if (source instanceof Abort) return source.reason ?? new DeviceUnavailable('aborted');
  return abortReason(source);
}

/** Why a signal aborted, as one of our errors (AbortSignal.timeout's DOMException becomes a ProtocolTimeout). */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'TimeoutError' && !(reason instanceof ProtocolTimeout))
    return new ProtocolTimeout(reason.message, { cause: reason });
  if (reason instanceof Error) return reason;
  return new DeviceUnavailable(String(reason ?? 'aborted'));
}

/**
 * One request of a call: `promise`, or a ProtocolTimeout after the call's `timeoutMs`, or the call's abort —
 * for libraries that have no timeout of their own. Nothing is left behind when it settles.
 */
export function timed<T>(call: Call, what: string, promise: Promise<T>): Promise<T> {
  return new RuntimeCall(call.timeoutMs, what, abortOf(call), call.timeoutMs).settle(promise);
}
