import { access } from 'node:fs/promises';
import { ReadlineParser, SerialPort } from 'serialport';
import {
  formatTwinValue,
  parseTwinValue,
  type SerialConfig,
  type SerialVisitor,
  type TwinValue,
} from '../../device-models/index.js';
import type { Driver, DriverContext, DriverState, Point, Reading } from '../../sdk/driver.js';
import { DeviceUnavailable, ProtocolError, ProtocolTimeout } from '../../sdk/errors.js';
import type { Logger } from '../../sdk/logger.js';

/** How long a read or an ack may take when the visitor gives no timeout, ms. */
export const DEFAULT_TIMEOUT_MS = 1000;

interface Waiter {
  re: RegExp;
  resolve(match: { groups: Record<string, string> | undefined; at: number }): void;
  reject(error: Error): void;
}

/**
 * A line-oriented serial device: every line received is matched against the visitors' patterns. Streaming
 * visitors (no `request`) read the next matching line; request/response visitors send `request` and wait
 * for a matching line, one exchange at a time per port.
 */
export class SerialDriver implements Driver<SerialConfig, SerialVisitor> {
  private readonly log: Logger;
  private port: SerialPort | undefined;
  private status: DriverState = 'offline';
  private readonly regexes = new Map<string, RegExp>();
  private readonly waiters = new Set<Waiter>();
  /** Tail of the request queue: each exchange starts once the previous one settled. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(context: DriverContext) {
    this.log = context.log.child({ module: 'mapper:serial' });
  }

  async connect(config: SerialConfig): Promise<void> {
    if (this.port) await this.close();
    this.status = 'connecting';
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
      this.status = 'offline';
      throw new DeviceUnavailable(`cannot open ${config.serialName}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    this.port = port;
    const parser = port.pipe(new ReadlineParser({ delimiter: config.delimiter ?? '\r\n' }));
    parser.on('data', (line: string) => this.onLine(line));
    port.on('error', (error) => {
      this.log.warn({ err: error }, 'serial port error');
      this.lost(port);
    });
    port.on('close', () => this.lost(port));
    this.status = 'online';
  }

  readable(point: Point<SerialVisitor>): boolean {
    return point.visitor.pattern !== undefined;
  }

  async read(point: Point<SerialVisitor>): Promise<Reading> {
    const { visitor } = point;
    if (visitor.pattern === undefined)
      throw new ProtocolError(`property ${point.name} has no pattern to read`);
    const re = this.regex(visitor.pattern);
    const timeout = visitor.timeout ?? DEFAULT_TIMEOUT_MS;
    if (visitor.request === undefined) {
      // Always the next matching line: a cached match would hide a device that stopped streaming (the
      // conformance suite requires PROTOCOL_TIMEOUT as soon as it goes silent). Costs at most one stream period.
      this.ensureOpen();
      const match = await this.waitFor(re, timeout, `a line matching ${visitor.pattern}`);
      return this.reading(point, match.groups?.value ?? '', match.at);
    }
    const request = visitor.request;
    return this.exclusive(async () => {
      const match = this.waitFor(re, timeout, `an answer to ${JSON.stringify(request)}`);
      match.catch(() => {});
      await this.send(request).catch((error: unknown) => {
        match.catch(() => {});
        throw error;
      });
      const { groups, at } = await match;
      return this.reading(point, groups?.value ?? '', at);
    });
  }

  async write(point: Point<SerialVisitor>, value: TwinValue): Promise<void> {
    const { visitor } = point;
    if (visitor.writeTemplate === undefined)
      throw new ProtocolError(`property ${point.name} has no writeTemplate`);
    const text = visitor.writeTemplate.replaceAll('{value}', formatTwinValue(point.property.type, value));
    const ack = visitor.ackPattern;
    await this.exclusive(async () => {
      const acked = ack
        ? this.waitFor(this.regex(ack), visitor.timeout ?? DEFAULT_TIMEOUT_MS, `an ack matching ${ack}`)
        : undefined;
      acked?.catch(() => {});
      try {
        await this.send(text);
      } catch (error) {
        acked?.catch(() => {});
        throw error;
      }
      await acked;
    });
  }

  state(): DriverState {
    return this.status;
  }

  async close(): Promise<void> {
    this.status = 'closed';
    const port = this.port;
    this.port = undefined;
    this.rejectAll(new DeviceUnavailable('the serial port was closed'));
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private ensureOpen(): SerialPort {
    const port = this.port;
    if (!port?.isOpen || this.status === 'offline' || this.status === 'closed')
      throw new DeviceUnavailable(
        `serial device is ${this.status === 'closed' ? 'closed' : 'not connected'}`,
      );
    return port;
  }

  private lost(port: SerialPort): void {
    if (this.port !== port || this.status === 'closed') return;
    this.status = 'offline';
    this.rejectAll(new DeviceUnavailable('the serial port closed'));
  }

  private rejectAll(error: Error): void {
    for (const waiter of this.waiters) waiter.reject(error);
    this.waiters.clear();
  }

  private regex(source: string): RegExp {
    let re = this.regexes.get(source);
    if (!re) {
      re = new RegExp(source);
      this.regexes.set(source, re);
    }
    return re;
  }

  private onLine(line: string): void {
    const at = Date.now();
    for (const waiter of [...this.waiters]) {
      const match = waiter.re.exec(line);
      if (match) {
        this.waiters.delete(waiter);
        waiter.resolve({ groups: match.groups, at });
      }
    }
  }

  /** The next line matching `re`, within `ms` (the driver's only timer: a per-request timeout). */
  private waitFor(
    re: RegExp,
    ms: number,
    what: string,
  ): Promise<{ groups: Record<string, string> | undefined; at: number }> {
    this.ensureOpen();
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        re,
        resolve: (match) => {
          clearTimeout(timer);
          resolve(match);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new ProtocolTimeout(`no ${what} within ${ms} ms`));
        // A pty or USB adapter that vanished does not always close the port: check the device node.
        const port = this.port;
        if (port) access(port.path).catch(() => this.lost(port));
      }, ms);
      this.waiters.add(waiter);
    });
  }

  private send(text: string): Promise<void> {
    const port = this.ensureOpen();
    return new Promise((resolve, reject) => {
      port.write(text, (error) => {
        if (error)
          return reject(new DeviceUnavailable(`serial write failed: ${error.message}`, { cause: error }));
        port.drain((drainError) =>
          drainError ? reject(new DeviceUnavailable(drainError.message, { cause: drainError })) : resolve(),
        );
      });
    });
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => {});
    return run;
  }

  private reading(point: Point<SerialVisitor>, text: string, at: number): Reading {
    const parsed = parseTwinValue(point.property.type, text);
    if (!parsed.ok) throw new ProtocolError(`property ${point.name}: ${parsed.reason}`);
    return { value: parsed.value, quality: 'good', timestamp: at };
  }
}
