import type { EventEmitter } from 'node:events';
import Modbus from 'modbus-serial';
import {
  type ModbusConfig,
  type ModbusRegister,
  type ModbusVisitor,
  modbusDataType,
  outOfRange,
  parseTwinValue,
  type TwinValue,
  TwinValueError,
} from '../../device-models/index.js';
import {
  decodeRegisters,
  encodeRegisters,
  type RegisterEncoding,
} from '../../sdk/codecs/modbus-registers.js';
import {
  type Driver,
  type DriverContext,
  type DriverState,
  type Point,
  type Reading,
  readOneOf,
  stateAfterTimeouts,
} from '../../sdk/driver.js';
import { DeviceUnavailable, ProtocolError, ProtocolTimeout, ValueOutOfRange } from '../../sdk/errors.js';
import type { Logger } from '../../sdk/logger.js';
import { extractPoint, planReads, type ReadRequest } from './read-plan.js';

type Client = InstanceType<typeof Modbus.default>;
type ModbusPoint = Point<ModbusVisitor>;

export { OFFLINE_AFTER_TIMEOUTS } from '../../sdk/driver.js';

const DEFAULT_TIMEOUT_MS = 1000;
/** Modbus exception 2. */
const ILLEGAL_DATA_ADDRESS = 2;

const PARITY: Record<NonNullable<ModbusConfig['parity']>, 'none' | 'even' | 'odd' | 'mark' | 'space'> = {
  none: 'none',
  even: 'even',
  odd: 'odd',
  mark: 'mark',
  space: 'space',
  N: 'none',
  E: 'even',
  O: 'odd',
};

/** What modbus-serial rejects with: a timeout, a Modbus exception, or a port that is not open. */
interface ModbusSerialError {
  name?: string;
  message?: string;
  errno?: string;
  modbusCode?: number;
}

/**
 * Modbus TCP and RTU through modbus-serial. One request at a time per connection (RTU cannot tell
 * overlapping answers apart); readMany reads neighbouring properties of one table in a single request.
 * Starts no timers and never reconnects: the device runtime does that.
 */
export class ModbusDriver implements Driver<ModbusConfig, ModbusVisitor> {
  private readonly log: Logger;
  private client: Client | undefined;
  private mode: 'TCP' | 'RTU' = 'TCP';
  private unitId = 1;
  private status: DriverState = 'offline';
  private timeouts = 0;
  /** The tail of the request queue. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Rejects the requests in flight when the connection is closed under them. */
  private abort: { promise: Promise<never>; reject: (error: Error) => void } | undefined;
  private closing: Promise<void> | undefined;
  /** The device refused a read spanning unmapped registers: plan without gaps from then on. */
  private gapsRejected = false;
  /** The client of a connect() in progress, so that close() can stop it. */
  private opening: Client | undefined;

  constructor(context: DriverContext) {
    this.log = context.log.child({ module: 'mapper:modbus' });
  }

  async connect(config: ModbusConfig): Promise<void> {
    if (this.client || this.opening) await this.close();
    this.closing = undefined;
    this.status = 'connecting';
    this.timeouts = 0;
    const mode = config.communicateMode ?? (config.serialName && !config.ip ? 'RTU' : 'TCP');
    this.mode = mode;
    this.unitId = config.slaveID ?? 1;
    const client = new Modbus.default();
    // Set before connecting: on TCP it also bounds the connection attempt.
    client.setTimeout(config.timeout ?? DEFAULT_TIMEOUT_MS);
    client.setID(this.unitId);
    client.on('error', (error) => this.log.warn({ err: error }, 'modbus port error'));
    client.on('close', () => {
      if (this.client !== client || this.status === 'closed') return;
      this.log.info('modbus connection closed by the peer');
      this.status = 'offline';
      // Requests in flight will get no answer: fail them now rather than at their timeout.
      this.abort?.reject(new DeviceUnavailable('the modbus connection closed'));
    });
    const abort = rejecter();
    this.abort = abort;
    this.opening = client;
    const where = mode === 'TCP' ? `${config.ip}:${config.port ?? 502}` : config.serialName;
    try {
      // close() during the attempt rejects `abort`: modbus-serial would never settle a destroyed connect.
      await Promise.race([open(client, config, mode), abort.promise]);
    } catch (error) {
      this.opening = undefined;
      this.markOffline();
      await shut(client, mode);
      if (error instanceof DeviceUnavailable) throw error;
      throw new DeviceUnavailable(`modbus ${mode} ${where} unreachable: ${messageOf(error)}`, {
        cause: error,
      });
    }
    this.opening = undefined;
    this.client = client;
    this.status = 'online';
    this.log.info({ mode, where, unitId: this.unitId }, 'modbus connected');
  }

  state(): DriverState {
    return this.status;
  }

  read(point: ModbusPoint): Promise<Reading> {
    return readOneOf(this, point);
  }

  async readMany(points: ModbusPoint[]): Promise<(Reading | Error)[]> {
    const results: (Reading | Error)[] = new Array(points.length);
    const plan = planReads(points, this.gapsRejected ? { maxGap: 0 } : {});
    for (const request of plan) await this.readPlanned(points, request, results);
    // Points the plan left out (it should leave none) still get an answer.
    for (let i = 0; i < points.length; i++)
      results[i] ??= new ProtocolError(`no read planned for ${points[i]!.name}`);
    return results;
  }

  /** Sends one planned read and decodes its members into `results`. */
  private async readPlanned(
    points: readonly ModbusPoint[],
    request: ReadRequest,
    results: (Reading | Error)[],
  ): Promise<void> {
    let words: number[];
    try {
      words = await this.request(request.slaveID, (client) => readRequest(client, request));
    } catch (error) {
      if (
        error instanceof ProtocolError &&
        error.exceptionCode === ILLEGAL_DATA_ADDRESS &&
        request.points.length > 1
      ) {
        // Many devices refuse a read that spans an unmapped register: stop bridging gaps on this connection,
        // and read each member alone so that only a truly bad address fails.
        this.gapsRejected = true;
        for (const member of request.points) await this.readPlanned(points, alone(request, member), results);
        return;
      }
      for (const member of request.points) results[member.index] = error as Error;
      return;
    }
    const timestamp = Date.now();
    for (const member of request.points) {
      try {
        const value = decodePoint(points[member.index]!, extractPoint(request, words, member));
        results[member.index] = { value, quality: 'good', timestamp };
      } catch (error) {
        results[member.index] = asError(error);
      }
    }
  }

  async write(point: ModbusPoint, value: TwinValue): Promise<void> {
    const { visitor, property } = point;
    const register = visitor.register;
    if (register === 'InputRegister' || register === 'DiscreteInputRegister')
      throw new ProtocolError(`${point.name}: a ${register} cannot be written`);
    if (register === 'CoilRegister') {
      const bit = toBoolean(point, value);
      const count = visitor.limit ?? 1;
      await this.request<unknown>(undefined, (client) =>
        count === 1
          ? client.writeCoil(visitor.offset, bit)
          : client.writeCoils(visitor.offset, new Array<boolean>(count).fill(bit)),
      );
      return;
    }
    const number = toNumber(point, value);
    const reason = outOfRange(property.type, number, property);
    if (reason) throw new ValueOutOfRange(`${point.name}: ${reason}`);
    const words = encodeRegisters(number, encodingOf(point));
    await this.request<unknown>(undefined, (client) =>
      words.length === 1
        ? client.writeRegister(visitor.offset, words[0]!)
        : client.writeRegisters(visitor.offset, words),
    );
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.status = 'closed';
      const client = this.client ?? this.opening;
      this.client = undefined;
      this.opening = undefined;
      this.abort?.reject(new DeviceUnavailable('the modbus connection was closed'));
      this.abort = undefined;
      if (client) await shut(client, this.mode);
    })();
    return this.closing;
  }

  /** The connection is gone (unless close() got there first). */
  private markOffline(): void {
    if (this.status !== 'closed') this.status = 'offline';
  }

  /** Runs one request after the ones before it, translating modbus-serial's errors into ours. */
  private request<T>(slaveID: number | undefined, send: (client: Client) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      const client = this.client;
      const abort = this.abort;
      if (client && !client.isOpen) this.markOffline();
      if (!client || !abort || this.status === 'closed' || this.status === 'offline')
        throw new DeviceUnavailable(
          `modbus device is ${this.status === 'closed' ? 'closed' : 'not connected'}`,
        );
      client.setID(slaveID ?? this.unitId);
      try {
        const result = await Promise.race([send(client), abort.promise]);
        this.timeouts = 0;
        if (this.status === 'unhealthy') this.status = 'online';
        return result;
      } catch (error) {
        const translated = this.translate(error);
        // modbus-serial does not always report a socket reset as a close; an open flag gone false does.
        if (!client.isOpen) this.markOffline();
        throw translated;
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => {});
    return result;
  }

  private translate(error: unknown): Error {
    if (error instanceof DeviceUnavailable) return error;
    const e = (error ?? {}) as ModbusSerialError;
    if (typeof e.modbusCode === 'number') {
      this.timeouts = 0;
      if (this.status === 'unhealthy') this.status = 'online';
      return new ProtocolError(e.message ?? `Modbus exception ${e.modbusCode}`, {
        exceptionCode: e.modbusCode,
        cause: error,
      });
    }
    if (e.name === 'TransactionTimedOutError' || e.errno === 'ETIMEDOUT') {
      this.timeouts += 1;
      if (this.status === 'online' || this.status === 'unhealthy')
        this.status = stateAfterTimeouts(this.timeouts);
      return new ProtocolTimeout(`no answer from the modbus device (${this.timeouts} in a row)`, {
        cause: error,
      });
    }
    if (e.name === 'PortNotOpenError') {
      this.markOffline();
      return new DeviceUnavailable('the modbus port is not open', { cause: error });
    }
    return new ProtocolError(messageOf(error), { cause: error });
  }
}

function open(client: Client, config: ModbusConfig, mode: 'TCP' | 'RTU'): Promise<void> {
  if (mode === 'TCP') {
    if (!config.ip) return Promise.reject(new Error('no ip in the protocol config'));
    return client.connectTCP(config.ip, { port: config.port ?? 502 });
  }
  if (!config.serialName) return Promise.reject(new Error('no serialName in the protocol config'));
  return client.connectRTUBuffered(config.serialName, {
    baudRate: config.baudRate ?? 9600,
    ...(config.dataBits === undefined ? {} : { dataBits: config.dataBits }),
    ...(config.stopBits === undefined ? {} : { stopBits: config.stopBits }),
    ...(config.parity === undefined ? {} : { parity: PARITY[config.parity] }),
  });
}

/** A promise that only ever rejects, when told to; it never counts as an unhandled rejection. */
function rejecter(): { promise: Promise<never>; reject: (error: Error) => void } {
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<never>((_, r) => {
    reject = r;
  });
  promise.catch(() => {});
  return { promise, reject };
}

/** A request for one member of `request` only. */
function alone(request: ReadRequest, member: ReadRequest['points'][number]): ReadRequest {
  return {
    register: request.register,
    ...(request.slaveID === undefined ? {} : { slaveID: request.slaveID }),
    start: request.start + member.offset,
    count: member.count,
    points: [{ index: member.index, offset: 0, count: member.count }],
  };
}

/** One planned read: FC1 coils, FC2 discrete inputs, FC3 holding registers, FC4 input registers. */
async function readRequest(client: Client, request: ReadRequest): Promise<number[]> {
  const read: Record<ModbusRegister, () => Promise<{ data: (number | boolean)[] }>> = {
    CoilRegister: () => client.readCoils(request.start, request.count),
    DiscreteInputRegister: () => client.readDiscreteInputs(request.start, request.count),
    HoldingRegister: () => client.readHoldingRegisters(request.start, request.count),
    InputRegister: () => client.readInputRegisters(request.start, request.count),
  };
  const { data } = await read[request.register]();
  // Bits come back padded to whole bytes; words as numbers. Both become numbers here (bits 0/1).
  return data.slice(0, request.count).map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));
}

function encodingOf({ visitor, property }: ModbusPoint): RegisterEncoding {
  return {
    dataType: modbusDataType(visitor, property.type),
    ...(visitor.scale === undefined ? {} : { scale: visitor.scale }),
    ...(visitor.isSwap === undefined ? {} : { isSwap: visitor.isSwap }),
    ...(visitor.isRegisterSwap === undefined ? {} : { isRegisterSwap: visitor.isRegisterSwap }),
  };
}

function decodePoint(point: ModbusPoint, words: readonly number[]): TwinValue {
  const { register } = point.visitor;
  if (register === 'CoilRegister' || register === 'DiscreteInputRegister') {
    const bit = words[0] === 1;
    return point.property.type === 'BOOLEAN' ? bit : bit ? 1 : 0;
  }
  const value = decodeRegisters(words, encodingOf(point));
  if (point.property.type === 'BOOLEAN') return value !== 0;
  return point.property.type === 'INT' ? Math.round(value) : value;
}

function toBoolean(point: ModbusPoint, value: TwinValue): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  const parsed = parseTwinValue('BOOLEAN', value);
  if (!parsed.ok) throw new TwinValueError(`${point.name}: ${parsed.reason}`);
  return parsed.value === true;
}

function toNumber(point: ModbusPoint, value: TwinValue): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  const parsed = parseTwinValue(point.property.type, value);
  if (!parsed.ok || typeof parsed.value !== 'number')
    throw new TwinValueError(`${point.name}: ${parsed.ok ? `"${value}" is not a number` : parsed.reason}`);
  return parsed.value;
}

/** Releases a client's socket or serial port: destroy cancels modbus-serial's pending request timers. */
async function shut(client: Client, mode: 'TCP' | 'RTU'): Promise<void> {
  const port = (client as unknown as { _port?: EventEmitter & { isOpen?: boolean } })._port;
  const wasOpen = port?.isOpen === true;
  if (mode === 'TCP') {
    const closed =
      wasOpen && port ? new Promise<void>((resolve) => port.once('close', () => resolve())) : undefined;
    client.destroy(() => {});
    await closed;
    return;
  }
  client.destroy(() => {});
  if (wasOpen) await new Promise<void>((resolve) => client.close(() => resolve()));
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  const e = error as ModbusSerialError | undefined;
  return e?.message ?? String(error);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new ProtocolError(messageOf(error), { cause: error });
}
