import { pino } from 'pino';
import type { Logger } from '../../sdk/index.js';

/** The CLI's logger: pino, JSON lines on stderr (stdout is for what a command prints). */
export function createCliLogger(level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: undefined }, pino.destination(2)) as unknown as Logger;
}
