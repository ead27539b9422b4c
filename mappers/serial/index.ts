import { type SerialConfig, type SerialVisitor, serial } from '../../device-models/index.js';
import type { ProtocolMapper } from '../../sdk/driver.js';
import { SerialDriver } from './driver.js';

/** The serial mapper: a line/regex protocol over serialport. */
export const serialMapper: ProtocolMapper<typeof SerialConfig, typeof SerialVisitor> = {
  schemas: serial,
  createDriver: (context) => new SerialDriver(context),
};

export { DEFAULT_TIMEOUT_MS, SerialDriver } from './driver.js';
export {
  createSerialSimulator,
  createSerialSimulator as createSimulator,
  lineFor,
  type SerialSimulator,
  type SerialSimulatorOptions,
} from './simulator.js';
