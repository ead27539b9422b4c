import { type DestinationStream, type LogFn, type LoggerOptions, pino } from 'pino';
import type { Logger } from '../../sdk/index.js';
import { capFields, capString, LOG_CAP_DEFAULTS, type LogCapOptions } from '../../sdk/log-cap.js';
import { LogLimiter, type LogLimitOptions, type Suppressed, suppressedMessage } from '../../sdk/log-limit.js';

export interface CliLogOptions {
  level?: string;
  /** Where lines go (default stderr: stdout is for what a command prints). */
  destination?: DestinationStream;
  /** Bounds of one line (sdk/log-cap.ts). */
  cap?: LogCapOptions;
  /** Rate limit of repeated warnings and errors (sdk/log-limit.ts); keyed by level, module and message. */
  limit?: LogLimitOptions;
}

/** pino levels from which repeated lines are rate-limited: warn and above. */
const LIMITED_FROM = 40;

/**
 * The CLI's logger: pino, JSON lines on stderr. Every line is bounded (pino's `formatters.log` caps the
 * fields, `depthLimit`/`edgeLimit` back it up, the message is cut in the `logMethod` hook), and repeated
 * warnings and errors are rate-limited in that hook: the first `burst` per interval, then one
 * "suppressed K similar: <msg>" line. The summary timer is unref'd and runs only while something is suppressed.
 */
export function createCliLogger(
  levelOrOptions: string | CliLogOptions = {},
): Logger & { flushSuppressed(): void } {
  const options = typeof levelOrOptions === 'string' ? { level: levelOrOptions } : levelOrOptions;
  const cap = { ...LOG_CAP_DEFAULTS, ...options.cap };
  const limiter = new LogLimiter<(suppressed: number) => void>(options.limit);
  let timer: NodeJS.Timeout | undefined;
  const write = (summaries: Suppressed<(suppressed: number) => void>[]) => {
    for (const s of summaries) s.data(s.suppressed);
  };
  const tick = () => {
    write(limiter.drain());
    if (!limiter.suppressing) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  const pinoOptions: LoggerOptions = {
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: undefined,
    depthLimit: cap.maxDepth + 1,
    edgeLimit: cap.maxKeys + 1,
    // Errors are serialized (and capped) by capFields already.
    serializers: { err: (value: unknown) => value },
    formatters: { log: (obj) => capFields(obj, cap) },
    hooks: {
      logMethod(args: Parameters<LogFn>, method, level) {
        const capped = args.map((arg) => (typeof arg === 'string' ? capString(arg, cap.maxString) : arg));
        if (level < LIMITED_FROM) return method.apply(this, capped as Parameters<LogFn>);
        const msg = String(capped.find((arg) => typeof arg === 'string') ?? '');
        const scope = JSON.stringify(this.bindings());
        const summary = (suppressed: number) =>
          method.call(this, { suppressed }, suppressedMessage(suppressed, msg));
        const decision = limiter.take(`${level}\u0000${scope}\u0000${msg}`, summary);
        write(decision.summaries);
        if (decision.write) return method.apply(this, capped as Parameters<LogFn>);
        if (!timer) {
          timer = setInterval(tick, limiter.intervalMs);
          timer.unref();
        }
      },
    },
  };
  const logger = pino(pinoOptions, options.destination ?? pino.destination(2));
  return Object.assign(logger as unknown as Logger, {
    /** Writes every pending "suppressed" summary now (before exit, or in tests). */
    flushSuppressed: () => write(limiter.drain(true)),
  });
}
