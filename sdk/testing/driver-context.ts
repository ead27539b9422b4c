import type { DriverContext } from '../driver.js';
import { type Logger, silentLogger } from '../logger.js';
import { ConnectionPool } from '../runtime/connection-pool.js';

/**
 * A DriverContext for driving a driver directly in a test: its own connection pool (so tests do not share
 * lines by accident) and a `lost` that records what the driver reported.
 */
export function driverContext(options: { log?: Logger; connections?: ConnectionPool } = {}): DriverContext & {
  lostReasons: Error[];
} {
  const lostReasons: Error[] = [];
  return {
    log: options.log ?? silentLogger,
    connections: options.connections ?? new ConnectionPool(),
    lost: (reason) => {
      lostReasons.push(reason);
    },
    lostReasons,
  };
}
