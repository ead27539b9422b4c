import { EdgetwinError } from '../device-models/index.js';

/** A value does not fit where it is written (a register's data type, or the model's minimum/maximum). */
export class ValueOutOfRange extends EdgetwinError {
  constructor(message: string) {
    super('VALUE_OUT_OF_RANGE', message);
  }
}

/** The device did not answer in time. */
export class ProtocolTimeout extends EdgetwinError {
  constructor(message: string, options?: ErrorOptions) {
    super('PROTOCOL_TIMEOUT', message, options);
  }
}

/** The device cannot be reached (connection refused, port missing, closed). */
export class DeviceUnavailable extends EdgetwinError {
  constructor(message: string, options?: ErrorOptions) {
    super('DEVICE_UNAVAILABLE', message, options);
  }
}

/** The device answered with an error (for Modbus, `exceptionCode` is the exception code). */
export class ProtocolError extends EdgetwinError {
  readonly exceptionCode?: number;

  constructor(message: string, options: ErrorOptions & { exceptionCode?: number } = {}) {
    super('PROTOCOL_ERROR', message, options);
    if (options.exceptionCode !== undefined) this.exceptionCode = options.exceptionCode;
  }
}
