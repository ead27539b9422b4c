import type { DriverContext } from '../driver.js';
import { type Logger, silentLogger } from '../logger.js';
import { ConnectionPool } from '../runtime/connection-pool.js';
import type { Connections } from '../runtime/shared-connection.js';

/**
 * A DriverContext for driving a driver directly in a test: its own connection pool (so tests do not share
 * lines by accident; pass one to two drivers to make them share) and a `lost` that records what the driver
 * reported, in `lostReasons`.
 */
export function driverContext(options: { log?: Logger; connections?: Connections } = {}): DriverContext & {
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
