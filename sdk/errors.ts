import { EdgetwinError } from '../device-models/errors.js';

/** A value that the target encoding cannot represent (e.g. 70000 into a uint16 register, or NaN). */
export class ValueOutOfRange extends EdgetwinError {
  constructor(message: string, options?: ErrorOptions) {
    super('VALUE_OUT_OF_RANGE', message, options);
  }
}

/** The device did not answer in time. */
export class ProtocolTimeout extends EdgetwinError {
  constructor(message: string, options?: ErrorOptions) {
    super('PROTOCOL_TIMEOUT', message, options);
  }
}

/** The device cannot be reached: no connection, or the connection was closed. */
export class DeviceUnavailable extends EdgetwinError {
  constructor(message: string, options?: ErrorOptions) {
    super('DEVICE_UNAVAILABLE', message, options);
  }
}

/** The device answered, but with an error or something that makes no sense. */
export class ProtocolError extends EdgetwinError {
  /** The protocol's own error number when it sent one, e.g. a Modbus exception code (2 = illegal address). */
  readonly exceptionCode?: number;

  constructor(message: string, options?: ErrorOptions & { exceptionCode?: number }) {
    super('PROTOCOL_ERROR', message, options);
    if (options?.exceptionCode !== undefined) this.exceptionCode = options.exceptionCode;
  }
}
