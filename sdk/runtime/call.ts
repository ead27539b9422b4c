import { DeviceUnavailable, ProtocolTimeout } from '../errors.js';

/**
 * What the runtime hands to every driver call: a signal that aborts at the call's deadline (its reason a
 * ProtocolTimeout) or when the device is stopped (a DeviceUnavailable), and the time the call was given.
 * A driver passes `timeoutMs` to libraries that have their own timeout, and wraps the others in `abortable`.
 */
export interface Call {
  signal: AbortSignal;
  timeoutMs: number;
}

/** A call that times out after `ms`, optionally also aborted by `parent`; `done()` clears its timer. */
export function startCall(ms: number, what: string, parent?: AbortSignal): Call & { done(): void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new ProtocolTimeout(`${what}: no answer within ${ms} ms`)),
    ms,
  );
  const onParent = () => controller.abort(parent?.reason ?? new DeviceUnavailable(`${what}: stopped`));
  if (parent?.aborted) onParent();
  else parent?.addEventListener('abort', onParent, { once: true });
  return {
    signal: controller.signal,
    timeoutMs: ms,
    done() {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParent);
    },
  };
}

/** Runs `work` with a call of `ms`; the timer and listeners are gone when it settles, however it settles. */
export async function withCall<T>(
  ms: number,
  what: string,
  work: (call: Call) => Promise<T>,
  parent?: AbortSignal,
): Promise<T> {
  const call = startCall(ms, what, parent);
  try {
    return await abortable(work(call), call.signal);
  } finally {
    call.done();
  }
}

/** A call for tests and scripts: a plain timeout of `ms`. */
export function deadline(ms: number): Call {
  return { signal: AbortSignal.timeout(ms), timeoutMs: ms };
}

/**
 * `promise`, or the signal's reason as soon as it aborts (a ProtocolTimeout for a timeout). The listener is
 * removed when either settles, so nothing stays reachable from a long-lived signal.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(abortReason(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
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
  const request = startCall(call.timeoutMs, what, call.signal);
  return abortable(promise, request.signal).finally(() => request.done());
}
