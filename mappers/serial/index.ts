import { type SerialConfig, type SerialVisitor, serial } from '../../device-models/index.js';
import type { ProtocolMapper } from '../../sdk/driver.js';
import { DEFAULT_TIMEOUT_MS, SerialDriver } from './driver.js';

/**
 * The serial mapper: a line/regex protocol over serialport. Timeouts are per visitor: the runtime's is the
 * default, and the driver gives each request its visitor's `timeout`.
 */
export const serialMapper: ProtocolMapper<typeof SerialConfig, typeof SerialVisitor> = {
  schemas: serial,
  createDriver: (context) => new SerialDriver(context),
  timeoutMs: () => DEFAULT_TIMEOUT_MS,
};

export { DEFAULT_TIMEOUT_MS, SerialDriver } from './driver.js';
export {
  createSerialSimulator,
  createSerialSimulator as createSimulator,
  lineFor,
  type SerialSimulator,
  type SerialSimulatorOptions,
} from './simulator.js';
