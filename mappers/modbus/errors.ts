import { EdgetwinError } from '../../device-models/errors.js';

/**
 * Devices that cannot share one simulated Modbus line: two answering as the same unit ID, a line whose
 * devices disagree on its baud rate, or one port (or serial line) asked to serve several.
 */
export class ModbusLineError extends EdgetwinError {
  constructor(message: string) {
    super('MODBUS_LINE_CONFLICT', message);
  }
}
