import type { Logger } from '../logger.js';

/** One line a recordingLogger was given: its level, its object, and its message (the text when it had none). */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: object | string;
  msg: string;
}

/** A Logger that keeps every line, at every level and from every child, for a test to look at. */
export function recordingLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (obj: object | string, msg?: string): void => {
      lines.push({ level, obj, msg: msg ?? (typeof obj === 'string' ? obj : '') });
    };
  const log: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => log,
  };
  return { log, lines };
}
