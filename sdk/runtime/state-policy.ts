import type { Reading } from '../driver.js';
import { DeviceUnavailable, ProtocolTimeout } from '../errors.js';

/** Consecutive timed-out cycles after which a device counts as gone (`offline`); before that, `unhealthy`. */
export const OFFLINE_AFTER_TIMEOUTS = 3;

/**
 * What one cycle of requests says about the device, from the errors its driver threw — the one policy
 * every protocol shares:
 * - `ok`: something answered;
 * - `unavailable`: a DeviceUnavailable — no connection: reconnect with backoff;
 * - `timeout`: every request timed out (ProtocolTimeout) — `unhealthy`, `offline` after OFFLINE_AFTER_TIMEOUTS;
 * - `error`: the device answered, but only with errors (ProtocolError or a value it could not decode).
 */
export type CycleOutcome = 'ok' | 'unavailable' | 'timeout' | 'error';

export function cycleOutcome(results: readonly (Reading | Error)[]): CycleOutcome {
  if (results.some((r) => r instanceof DeviceUnavailable)) return 'unavailable';
  if (results.some((r) => !(r instanceof Error))) return 'ok';
  if (results.length > 0 && results.every((r) => r instanceof ProtocolTimeout)) return 'timeout';
  return 'error';
}

/** The outcome of one request that failed with `error`. */
export function errorOutcome(error: unknown): Exclude<CycleOutcome, 'ok'> {
  return cycleOutcome([error instanceof Error ? error : new Error(String(error))]) as Exclude<
    CycleOutcome,
    'ok'
  >;
}
