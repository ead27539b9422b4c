/** Base of every error edgetwin throws on purpose: a stable `code` that callers and tests can rely on. */
export class EdgetwinError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A device-model document (or a set of them) is invalid; `problems` says where and why. */
export class DeviceModelError extends EdgetwinError {
  constructor(
    message: string,
    readonly problems: readonly {
      file?: string;
      line?: number;
      col?: number;
      path: string;
      message: string;
    }[] = [],
  ) {
    super('DEVICE_MODEL_INVALID', message);
  }
}

/** A twin value that does not parse as its type or lies outside the model's minimum/maximum. */
export class TwinValueError extends EdgetwinError {
  constructor(message: string) {
    super('TWIN_VALUE_INVALID', message);
  }
}
