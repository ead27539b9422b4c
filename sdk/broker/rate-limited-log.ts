import type { Logger } from '../logger.js';

/**
 * Logs at debug at most `perWindow` lines per `windowMs`; the next line after a quiet spell says how many were
 * left out. Refused publishes from a misbehaving client can come thousands a second: the log must not.
 */
export class RateLimitedLog {
  private windowStart = 0;
  private logged = 0;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly perWindow = 20,
    private readonly windowMs = 10_000,
  ) {}

  debug(fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.logged = 0;
    }
    if (this.logged >= this.perWindow) {
      this.suppressed++;
      return;
    }
    this.logged++;
    const more = this.suppressed > 0 ? { suppressed: this.suppressed } : {};
    this.suppressed = 0;
    this.log.debug({ ...fields, ...more }, message);
  }
}
