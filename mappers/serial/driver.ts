import { access } from 'node:fs/promises';
import {
  formatTwinValue,
  parseTwinValue,
  type SerialConfig,
  type SerialVisitor,
  type TwinValue,
} from '../../device-models/index.js';
import type { Driver, DriverContext, Point, Reading } from '../../sdk/driver.js';
import { DeviceUnavailable, ProtocolError, ProtocolTimeout } from '../../sdk/errors.js';
import type { Logger } from '../../sdk/logger.js';
import { abortable, type Call, startCall } from '../../sdk/runtime/call.js';
import type { SharedConnection } from '../../sdk/runtime/connection-pool.js';
import { type LineMatch, lineSettings, SerialLine } from './line.js';

/** How long a read or an ack may take when the visitor gives no timeout, ms. */
export const DEFAULT_TIMEOUT_MS = 1000;

type SerialPoint = Point<SerialVisitor>;

/**
 * A line-oriented serial device: every line received is matched against the visitors' patterns. Streaming
 * visitors (no `request`) read the next matching line; request/response visitors send `request` and wait
 * for a matching line. Devices on one port share one open port (sdk's ConnectionPool) and take turns for
 * their exchanges (half duplex); each request waits as long as its visitor's `timeout`.
 */
export class SerialDriver implements Driver<SerialConfig, SerialVisitor> {
  private readonly log: Logger;
  private line: SharedConnection<SerialLine> | undefined;
  private forgetLost: (() => void) | undefined;
  private readonly regexes = new Map<string, RegExp>();

  constructor(private readonly context: DriverContext) {
    this.log = context.log.child({ module: 'mapper:serial' });
  }

  async connect(config: SerialConfig, call: Call): Promise<void> {
    await this.close();
    const key = `serial:${config.serialName}`;
    const acquiring = this.context.connections.acquire(key, {
      settings: lineSettings(config),
      open: (lost) => SerialLine.open(config, lost, this.log),
      close: (line) => line.close(),
    });
    let line: SharedConnection<SerialLine>;
    try {
      line = await abortable(acquiring, call.signal);
    } catch (error) {
      acquiring.then(
        (late) => late.release(),
        () => {},
      );
      if (error instanceof DeviceUnavailable || error instanceof ProtocolTimeout) throw error;
      throw new DeviceUnavailable(`cannot open ${config.serialName}: ${messageOf(error)}`, { cause: error });
    }
    this.line = line;
    const onLost = () => this.context.lost(line.lost.reason as Error);
    line.lost.addEventListener('abort', onLost, { once: true });
    this.forgetLost = () => line.lost.removeEventListener('abort', onLost);
    this.log.info({ key }, 'serial connected');
  }

  readable(point: SerialPoint): boolean {
    return point.visitor.pattern !== undefined;
  }

  async read(point: SerialPoint, call: Call): Promise<Reading> {
    const { visitor } = point;
    if (visitor.pattern === undefined)
      throw new ProtocolError(`property ${point.name} has no pattern to read`);
    const re = this.regex(visitor.pattern);
    const request = visitor.request;
    // A streaming device: always the next matching line. A cached match would hide a device that stopped
    // streaming (the conformance suite requires PROTOCOL_TIMEOUT as soon as it goes silent); this costs at
    // most one stream period.
    const match =
      request === undefined
        ? await this.exchange(point, `a line matching ${visitor.pattern}`, call, false, (port, signal) =>
            port.next(this, re, signal),
          )
        : await this.exchange(point, `an answer to ${JSON.stringify(request)}`, call, true, (port, signal) =>
            this.send(port, request, re, signal),
          );
    if (!match) throw new ProtocolError(`property ${point.name}: no answer`);
    return reading(point, match.groups?.value ?? '', match.at);
  }

  async write(point: SerialPoint, value: TwinValue, call: Call): Promise<void> {
    const { visitor } = point;
    if (visitor.writeTemplate === undefined)
      throw new ProtocolError(`property ${point.name} has no writeTemplate`);
    const text = visitor.writeTemplate.replaceAll('{value}', formatTwinValue(point.property.type, value));
    const ack = visitor.ackPattern === undefined ? undefined : this.regex(visitor.ackPattern);
    const what = ack ? `an ack matching ${visitor.ackPattern}` : `sending ${JSON.stringify(text)}`;
    await this.exchange(point, what, call, true, (port, signal) => this.send(port, text, ack, signal));
  }

  async close(): Promise<void> {
    const line = this.line;
    this.line = undefined;
    this.forgetLost?.();
    this.forgetLost = undefined;
    line?.handle.forget(this, new DeviceUnavailable('the serial device was closed'));
    await line?.release();
  }

  /**
   * Runs `work` on the port with the visitor's timeout (the call's when it has none), after the other devices'
   * exchanges on the port when `exclusive`. A timeout on a port whose device node is gone (a pty or USB adapter
   * that vanished does not always close the port) is the port lost, not the device's silence.
   */
  private async exchange<T>(
    point: SerialPoint,
    what: string,
    call: Call,
    exclusive: boolean,
    work: (port: SerialLine, signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const line = this.line;
    if (!line) throw new DeviceUnavailable('the serial device is not connected');
    if (line.lost.aborted) throw line.lost.reason as Error;
    const run = async (port: SerialLine): Promise<T> => {
      const request = startCall(
        point.visitor.timeout ?? call.timeoutMs,
        `serial ${point.name}: ${what}`,
        call.signal,
      );
      try {
        return await work(port, request.signal);
      } catch (error) {
        if (error instanceof ProtocolTimeout && !(await exists(port.port.path))) {
          const gone = new DeviceUnavailable(`serial port ${port.port.path} is gone`, { cause: error });
          line.fail(gone);
          throw gone;
        }
        throw error;
      } finally {
        request.done();
      }
    };
    return exclusive ? line.exclusive(run, call.signal) : run(line.handle);
  }

  /** Sends `text` and, given `answer`, waits for the line matching it (listening first: it may come quickly). */
  private async send(
    port: SerialLine,
    text: string,
    answer: RegExp | undefined,
    signal: AbortSignal,
  ): Promise<LineMatch | undefined> {
    const answered = answer ? port.next(this, answer, signal) : undefined;
    answered?.catch(() => {});
    await abortable(port.send(text), signal);
    return answered;
  }

  private regex(source: string): RegExp {
    let re = this.regexes.get(source);
    if (!re) {
      re = new RegExp(source);
      this.regexes.set(source, re);
    }
    return re;
  }
}

function reading(point: SerialPoint, text: string, at: number): Reading {
  const parsed = parseTwinValue(point.property.type, text);
  if (!parsed.ok) throw new ProtocolError(`property ${point.name}: ${parsed.reason}`);
  return { value: parsed.value, quality: 'good', timestamp: at };
}

function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
