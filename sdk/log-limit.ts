import type { Logger } from './logger.js';

/**
 * Rate limiting of repeated log lines: per key, the first `burst` lines of each `intervalMs` are written,
 * the rest are counted, and one summary ("suppressed K similar") is written for them once the interval is
 * over. A flood of 20,000 bad messages costs `burst` lines and a summary per interval, not 20,000 lines.
 */
export interface LogLimitOptions {
  /** Lines written per key and interval before the rest are suppressed (default 10). */
  burst?: number;
  /** The interval, ms (default 60,000). */
  intervalMs?: number;
  /** Keys tracked at once (default 1,000); beyond it the oldest is dropped, its summary handed out first. */
  maxKeys?: number;
  /** The clock (tests pass their own). */
  now?: () => number;
}

/** Lines suppressed under one key in one interval; `data` is what was passed with the last of them. */
export interface Suppressed<T> {
  key: string;
  suppressed: number;
  /** When the interval began, ms since the epoch. */
  since: number;
  data: T;
}

/** What `take` decided: whether to write this line, and summaries to write before it. */
export interface LimitDecision<T> {
  write: boolean;
  summaries: Suppressed<T>[];
}

interface Window<T> {
  start: number;
  written: number;
  suppressed: number;
  data: T;
}

export const LOG_LIMIT_DEFAULTS = { burst: 10, intervalMs: 60_000, maxKeys: 1_000 } as const;

/** The counting, with no timers and no output: pure over the clock it is given. */
export class LogLimiter<T = undefined> {
  readonly burst: number;
  readonly intervalMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private readonly windows = new Map<string, Window<T>>();

  constructor(options: LogLimitOptions = {}) {
    this.burst = Math.max(0, options.burst ?? LOG_LIMIT_DEFAULTS.burst);
    this.intervalMs = Math.max(1, options.intervalMs ?? LOG_LIMIT_DEFAULTS.intervalMs);
    this.maxKeys = Math.max(1, options.maxKeys ?? LOG_LIMIT_DEFAULTS.maxKeys);
    this.now = options.now ?? Date.now;
  }

  /** A line with this key is about to be written: may it be? `data` is kept for its summary. */
  take(key: string, data: T): LimitDecision<T> {
    const now = this.now();
    const summaries: Suppressed<T>[] = [];
    let window = this.windows.get(key);
    if (window && now - window.start >= this.intervalMs) {
      if (window.suppressed > 0) summaries.push(summary(key, window));
      this.windows.delete(key);
      window = undefined;
    }
    if (!window) {
      if (this.windows.size >= this.maxKeys) {
        const [oldest, old] = this.windows.entries().next().value as [string, Window<T>];
        this.windows.delete(oldest);
        if (old.suppressed > 0) summaries.push(summary(oldest, old));
      }
      window = { start: now, written: 0, suppressed: 0, data };
      this.windows.set(key, window);
    }
    window.data = data;
    if (window.written < this.burst) {
      window.written++;
      return { write: true, summaries };
    }
    window.suppressed++;
    return { write: false, summaries };
  }

  /**
   * The summaries of intervals that are over (all of them with `all`), forgetting those keys: what a timer
   * (or the last flush) writes so that a flood that stopped is still summed up.
   */
  drain(all = false): Suppressed<T>[] {
    const now = this.now();
    const out: Suppressed<T>[] = [];
    for (const [key, window] of this.windows) {
      if (!all && now - window.start < this.intervalMs) continue;
      this.windows.delete(key);
      if (window.suppressed > 0) out.push(summary(key, window));
    }
    return out;
  }

  /** Whether any key has suppressed lines not yet summed up. */
  get suppressing(): boolean {
    for (const window of this.windows.values()) if (window.suppressed > 0) return true;
    return false;
  }
}

function summary<T>(key: string, window: Window<T>): Suppressed<T> {
  return { key, suppressed: window.suppressed, since: window.start, data: window.data };
}

/** A Logger whose lines are rate-limited; `close()` writes what is still suppressed and stops its timer. */
export interface LimitedLogger extends Logger {
  child(bindings: Record<string, unknown>): LimitedLogger;
  /** Writes the summaries of every key now, ended or not. */
  flush(): void;
  /**
   * flush(), and no timer is left running or started again. Safe twice; the logger still works afterwards,
   * its summaries then written only when the next line of their key comes.
   */
  close(): void;
}

type Level = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];

interface Origin {
  log: Logger;
  level: Level;
  msg: string;
}

/**
 * Wraps a module's logger so that repeated lines are rate-limited (see LogLimiter). The key of a line is its
 * level, the child bindings and its message: keep what varies (device ids, payloads) in the object, so that
 * `log.warn({ device, err }, 'bad twin update')` is one key however many devices send one. A summary is
 * written at the same level: `{ suppressed: K, since }, "suppressed K similar: bad twin update"`.
 * Children share the parent's counts. A timer runs only while lines are being suppressed; `close()` stops it.
 */
export function rateLimitedLogger(log: Logger, options: LogLimitOptions = {}): LimitedLogger {
  const limiter = new LogLimiter<Origin>(options);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const writeSummaries = (summaries: Suppressed<Origin>[]) => {
    for (const { suppressed, since, data } of summaries)
      data.log[data.level](
        { suppressed, since: new Date(since).toISOString() },
        suppressedMessage(suppressed, data.msg),
      );
  };
  const tick = () => {
    writeSummaries(limiter.drain());
    if (!limiter.suppressing) stopTimer();
  };
  const stopTimer = () => {
    clearInterval(timer);
    timer = undefined;
  };
  const wrap = (target: Logger, scope: string): LimitedLogger => {
    const method =
      (level: Level) =>
      (obj: object | string, msg?: string): void => {
        const text = msg ?? (typeof obj === 'string' ? obj : '');
        const decision = limiter.take(`${level}\u0000${scope}\u0000${text}`, {
          log: target,
          level,
          msg: text,
        });
        writeSummaries(decision.summaries);
        if (decision.write) target[level](obj, msg);
        else if (!timer && !closed) {
          timer = setInterval(tick, limiter.intervalMs);
          timer.unref();
        }
      };
    const logger = Object.fromEntries(LEVELS.map((level) => [level, method(level)])) as Record<
      Level,
      Logger['info']
    >;
    return {
      ...logger,
      child: (bindings) => wrap(target.child(bindings), `${scope}${JSON.stringify(bindings)}`),
      flush: () => writeSummaries(limiter.drain(true)),
      close: () => {
        closed = true;
        stopTimer();
        writeSummaries(limiter.drain(true));
      },
    };
  };
  return wrap(log, '');
}

/** The text of a summary line. */
export function suppressedMessage(suppressed: number, msg: string): string {
  return `suppressed ${suppressed} similar: ${msg}`;
}
