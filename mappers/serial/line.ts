import { ReadlineParser, SerialPort } from 'serialport';
import type { SerialConfig } from '../../device-models/index.js';
import { DeviceUnavailable } from '../../sdk/errors.js';
import type { Logger } from '../../sdk/logger.js';
import { abortReason } from '../../sdk/runtime/call.js';

/** A received line as a waiter's pattern matched it. */
export interface LineMatch {
  groups: Record<string, string> | undefined;
  /** When the line arrived, ms since the epoch. */
  at: number;
}

interface Waiter {
  re: RegExp;
  /** The device waiting: `forget(owner)` ends its waits and nobody else's. */
  owner: object;
  settle(result: LineMatch | Error): void;
}

/**
 * The line settings a config asks for. Devices on one port must agree on all of them, the line end included
 * (one parser splits the port's lines for every device on it).
 */
export function lineSettings(config: SerialConfig): string {
  const { baudRate = 9600, dataBits = 8, parity = 'none', stopBits = 1, delimiter = '\r\n' } = config;
  return `${baudRate} baud, ${dataBits} data bits, parity ${parity}, ${stopBits} stop bits, lines ending ${JSON.stringify(delimiter)}`;
}

/**
 * One open serial port and its line parser, shared by every device on the port (through sdk's ConnectionPool):
 * each line received is offered to the waiters of all of them, so two streaming devices on one port each see
 * their lines. Request/response exchanges take turns through the pool's `exclusive`, not here.
 */
export class SerialLine {
  private readonly waiters = new Set<Waiter>();
  private ended: Error | undefined;

  private constructor(
    readonly port: SerialPort,
    private readonly lost: (reason: Error) => void,
  ) {}

  /** Opens the port; `lost` is called when it closes or fails under its users. */
  static async open(config: SerialConfig, lost: (reason: Error) => void, log: Logger): Promise<SerialLine> {
    const port = new SerialPort({
      path: config.serialName,
      baudRate: config.baudRate ?? 9600,
      dataBits: (config.dataBits ?? 8) as 5 | 6 | 7 | 8,
      stopBits: (config.stopBits ?? 1) as 1 | 1.5 | 2,
      parity: config.parity ?? 'none',
      autoOpen: false,
    });
    try {
      await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    } catch (error) {
      throw new DeviceUnavailable(`cannot open ${config.serialName}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const line = new SerialLine(port, lost);
    const parser = port.pipe(new ReadlineParser({ delimiter: config.delimiter ?? '\r\n' }));
    parser.on('data', (text: string) => line.offer(text));
    port.on('error', (error) => {
      log.warn({ err: error, path: port.path }, 'serial port error');
      line.gone(new DeviceUnavailable(`serial port ${port.path} failed: ${error.message}`, { cause: error }));
    });
    port.on('close', () => line.gone(new DeviceUnavailable(`serial port ${port.path} closed`)));
    return line;
  }

  /** The next line matching `re`, for `owner`; the wait ends, and is forgotten, when `signal` aborts. */
  next(owner: object, re: RegExp, signal: AbortSignal): Promise<LineMatch> {
    if (this.ended) return Promise.reject(this.ended);
    if (signal.aborted) return Promise.reject(abortReason(signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => waiter.settle(abortReason(signal));
      const waiter: Waiter = {
        re,
        owner,
        settle: (result) => {
          this.waiters.delete(waiter);
          signal.removeEventListener('abort', onAbort);
          if (result instanceof Error) reject(result);
          else resolve(result);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  /** Ends the waits of `owner` (a device letting go of the port) with `reason`; the others keep waiting. */
  forget(owner: object, reason: Error): void {
    for (const waiter of [...this.waiters]) if (waiter.owner === owner) waiter.settle(reason);
  }

  /** Writes `text` and waits until it has left; a port that cannot write is lost. */
  async send(text: string): Promise<void> {
    if (this.ended) throw this.ended;
    const port = this.port;
    try {
      await new Promise<void>((resolve, reject) =>
        port.write(text, (error) =>
          error ? reject(error) : port.drain((drained) => (drained ? reject(drained) : resolve())),
        ),
      );
    } catch (error) {
      const reason = new DeviceUnavailable(
        `serial write to ${port.path} failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
      this.gone(reason);
      throw reason;
    }
  }

  /** Ends every wait and closes the port (the pool calls it after the last device let go, or on a loss). */
  async close(): Promise<void> {
    this.end(new DeviceUnavailable('the serial port was closed'));
    const port = this.port;
    if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private offer(text: string): void {
    const at = Date.now();
    for (const waiter of [...this.waiters]) {
      const match = waiter.re.exec(text);
      if (match) waiter.settle({ groups: match.groups, at });
    }
  }

  /** The port failed or closed under its users: every wait ends, and the pool hears of it. */
  private gone(reason: Error): void {
    if (this.ended) return;
    this.end(reason);
    this.lost(reason);
  }

  private end(reason: Error): void {
    this.ended ??= reason;
    for (const waiter of [...this.waiters]) waiter.settle(reason);
  }
}
