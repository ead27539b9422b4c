/**
 * The logger every module is given. It is pino's shape, so the CLI passes a pino logger, and tests pass
 * `silentLogger` or a recording one. Libraries never pick the backend.
 */
export interface Logger {
  /** Logs at debug level: fields (or a message alone), then the message. */
  debug(obj: object | string, msg?: string): void;
  /** Logs at info level. */
  info(obj: object | string, msg?: string): void;
  /** Logs at warn level. */
  warn(obj: object | string, msg?: string): void;
  /** Logs at error level. */
  error(obj: object | string, msg?: string): void;
  /** A logger that adds `bindings` to every line, e.g. `{ device: 'default/thermostat' }`. */
  child(bindings: Record<string, unknown>): Logger;
}

const noop = () => {};

/** A logger that drops everything: for tests, and the default where none is given. */
export const silentLogger: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};
