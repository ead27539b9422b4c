import type { EventEmitter } from 'node:events';
import Modbus from 'modbus-serial';
import {
  type ModbusConfig,
  type ModbusVisitor,
  modbusDataType,
  type TwinValue,
} from '../../device-models/internal.js';
import {
  decodeRegisters,
  encodeRegisters,
  type RegisterEncoding,
} from '../../sdk/codecs/modbus-registers.js';
import { type Driver, type DriverContext, type Point, type Reading, readOneOf } from '../../sdk/driver.js';
import { DeviceUnavailable, ProtocolError, ProtocolTimeout } from '../../sdk/errors.js';
import type { Logger } from '../../sdk/logger.js';
import { abortable, abortOf, type Call } from '../../sdk/runtime/call.js';
import type { Opener, SharedConnection } from '../../sdk/runtime/connection-pool.js';
import { extractPoint, planReads, type ReadRequest } from './read-plan.js';

type Client = InstanceType<typeof Modbus.default>;
type ModbusPoint = Point<ModbusVisitor>;

/** A request's timeout when the config gives none, ms. */
export const DEFAULT_TIMEOUT_MS = 1000;
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

/** The physical endpoint a config names: devices with the same key share one connection. */
export function modbusEndpoint(config: ModbusConfig): {
  key: string;
  mode: 'TCP' | 'RTU';
  settings?: string;
} {
  const mode = config.communicateMode ?? (config.serialName && !config.ip ? 'RTU' : 'TCP');
  if (mode === 'TCP') return { key: `modbus-tcp://${config.ip}:${config.port ?? 502}`, mode };
  const parity = PARITY[config.parity ?? 'none'];
  return {
    key: `serial:${config.serialName}`,
    mode,
    settings: `${config.baudRate ?? 9600} baud, ${config.dataBits ?? 8} data bits, parity ${parity}, ${config.stopBits ?? 1} stop bits`,
  };
}

/**
 * Modbus TCP and RTU through modbus-serial. Devices on one serial line or behind one ip:port share one
 * connection (sdk's ConnectionPool); each request carries its device's unit ID and timeout and runs alone on
 * the line. readMany reads neighbouring properties of one table in a single request.
 */
export class ModbusDriver implements Driver<ModbusConfig, ModbusVisitor> {
  private readonly log: Logger;
  private line: SharedConnection<Client> | undefined;
  private unitId = 1;
  /** The device refused a read spanning unmapped registers: plan without gaps from then on. */
  private gapsRejected = false;
  private readonly plans = new WeakMap<
    readonly ModbusPoint[],
    { gapsRejected: boolean; plan: ReadRequest[] }
  >();
  private forgetLost: (() => void) | undefined;
  /** Bumped by close(): a connect() that finishes after it lets go of what it got. */
  private generation = 0;

  constructor(private readonly context: DriverContext) {
    this.log = context.log.child({ module: 'mapper:modbus' });
  }

  async connect(config: ModbusConfig, call: Call): Promise<void> {
    const generation = ++this.generation;
    await this.releaseLine();
    const endpoint = modbusEndpoint(config);
    this.unitId = config.slaveID ?? 1;
    const opener: Opener<Client> = {
      ...(endpoint.settings ? { settings: endpoint.settings } : {}),
      open: (lost) => open(config, endpoint.mode, lost, this.log),
      close: (client) => shut(client, endpoint.mode),
    };
    const acquiring = this.context.connections.acquire(endpoint.key, opener);
    let line: SharedConnection<Client>;
    try {
      line = await abortable(acquiring, call.signal);
    } catch (error) {
      acquiring.then(
        (late) => late.release(),
        () => {},
      );
      if (error instanceof DeviceUnavailable || error instanceof ProtocolTimeout) throw error;
      throw new DeviceUnavailable(`modbus ${endpoint.key} unreachable: ${messageOf(error)}`, {
        cause: error,
      });
    }
    if (generation !== this.generation) {
      await line.release();
      throw new DeviceUnavailable('the modbus driver was closed while connecting');
    }
    this.line = line;
    const onLost = () => this.context.lost(line.lost.reason as Error);
    line.lost.addEventListener('abort', onLost, { once: true });
    this.forgetLost = () => line.lost.removeEventListener('abort', onLost);
    this.log.info({ endpoint: endpoint.key, unitId: this.unitId }, 'modbus connected');
  }

  /** The endpoint this device shares with every other slave on it: their cycles take turns. */
  get sharedLine(): string | undefined {
    return this.line?.key;
  }

  read(point: ModbusPoint, call: Call): Promise<Reading> {
    return readOneOf(this, point, call);
  }

  async readMany(points: ModbusPoint[], call: Call): Promise<(Reading | Error)[]> {
    const results: (Reading | Error)[] = new Array(points.length);
    const plan = this.planFor(points);
    let failed: Error | undefined;
    for (const request of plan) {
      // A slave that timed out (or a line that is gone) costs the line one timeout per cycle, not one per request.
      if (failed) for (const member of request.points) results[member.index] = failed;
      else failed = await this.readPlanned(points, request, results, call);
    }
    for (let i = 0; i < points.length; i++)
      results[i] ??= new ProtocolError(`no read planned for ${points[i]!.name}`);
    return results;
  }

  /**
   * The requests for `points`. The runtime passes the same array every cycle, so a plan is kept per array
   * (until gaps are refused); an array must not be changed once read with.
   */
  private planFor(points: readonly ModbusPoint[]): ReadRequest[] {
    if (points.length < 2) return planReads(points, {});
    const kept = this.plans.get(points);
    if (kept && kept.gapsRejected === this.gapsRejected) return kept.plan;
    const plan = planReads(points, this.gapsRejected ? { maxGap: 0 } : {});
    this.plans.set(points, { gapsRejected: this.gapsRejected, plan });
    return plan;
  }

  /** Sends one planned read and decodes its members into `results`; returns a timeout or lost line. */
  private async readPlanned(
    points: readonly ModbusPoint[],
    request: ReadRequest,
    results: (Reading | Error)[],
    call: Call,
  ): Promise<Error | undefined> {
    let words: number[];
    try {
      words = await this.request((client) => readRequest(client, request), call);
    } catch (error) {
      if (
        error instanceof ProtocolError &&
        error.exceptionCode === ILLEGAL_DATA_ADDRESS &&
        request.points.length > 1
      ) {
        // Many devices refuse a read that spans an unmapped register: stop bridging gaps for this device,
        // and read each member alone so that only a truly bad address fails.
        this.gapsRejected = true;
        for (const member of request.points) {
          const stop = await this.readPlanned(points, alone(request, member), results, call);
          if (stop) return stop;
        }
        return undefined;
      }
      for (const member of request.points) results[member.index] = error as Error;
      return error instanceof ProtocolTimeout || error instanceof DeviceUnavailable ? error : undefined;
    }
    const timestamp = Date.now();
    for (const member of request.points) {
      try {
        const value = decodePoint(points[member.index]!, extractPoint(request, words, member));
        results[member.index] = { value, quality: 'good', timestamp };
      } catch (error) {
        results[member.index] = error instanceof Error ? error : new ProtocolError(messageOf(error));
      }
    }
    return undefined;
  }

  async write(point: ModbusPoint, value: TwinValue, call: Call): Promise<void> {
    const { visitor } = point;
    const register = visitor.register;
    if (register === 'InputRegister' || register === 'DiscreteInputRegister')
      throw new ProtocolError(`${point.name}: a ${register} cannot be written`);
    if (register === 'CoilRegister') {
      const bit = value === true || (typeof value === 'number' && value !== 0);
      const count = visitor.limit ?? 1;
      await this.request<unknown>(
        (client) =>
          count === 1
            ? client.writeCoil(visitor.offset, bit)
            : client.writeCoils(visitor.offset, new Array<boolean>(count).fill(bit)),
        call,
      );
      return;
    }
    const words = encodeRegisters(Number(value), encodingOf(point));
    await this.request<unknown>(
      (client) =>
        words.length === 1
          ? client.writeRegister(visitor.offset, words[0]!)
          : client.writeRegisters(visitor.offset, words),
      call,
    );
  }

  async close(): Promise<void> {
    this.generation++;
    await this.releaseLine();
  }

  private async releaseLine(): Promise<void> {
    const line = this.line;
    this.line = undefined;
    this.forgetLost?.();
    this.forgetLost = undefined;
    await line?.release();
  }

  /** Runs one request alone on the line, with this device's unit ID and timeout; errors become ours. */
  private request<T>(send: (client: Client) => Promise<T>, call: Call): Promise<T> {
    const line = this.line;
    if (!line) return Promise.reject(new DeviceUnavailable('the modbus device is not connected'));
    const unitId = this.unitId;
    return line.exclusive((client) => {
      if (!client.isOpen)
        return Promise.reject(lose(line, new DeviceUnavailable('the modbus port is not open')));
      client.setID(unitId);
      client.setTimeout(call.timeoutMs);
      const transaction = transactionOf(client);
      return send(client).then(
        (value) => {
          forget(client, transaction);
          return value;
        },
        (error: unknown) => {
          forget(client, transaction);
          const translated = translate(error, unitId, call.timeoutMs);
          // modbus-serial does not always report a socket reset as a close; an open flag gone false does.
          if (translated instanceof DeviceUnavailable || !client.isOpen) throw lose(line, translated);
          throw translated;
        },
      );
    }, abortOf(call));
  }
}

/** modbus-serial's private request table: TCP ids cycle through 256 slots, and an answered slot is never cleared. */
interface Transactions {
  _transactions?: Record<string, unknown>;
  _port?: { _transactionIdWrite?: number };
}

/**
 * The slot the next request of `client` takes, to be forgotten once that request has settled. Over TCP
 * modbus-serial keeps every answered request (its callback chain, request and response buffers) until its id
 * comes round again: 256 per connection, ~0.4 MB of heap per Modbus TCP endpoint. Requests on a line run one at
 * a time, so a settled request's slot is no longer needed (a late answer to a timed-out one is ignored either way).
 */
function transactionOf(client: Client): number | undefined {
  return (client as unknown as Transactions)._port?._transactionIdWrite;
}

function forget(client: Client, transaction: number | undefined): void {
  const transactions = (client as unknown as Transactions)._transactions;
  if (transaction !== undefined && transactions) delete transactions[transaction];
}

function lose(line: SharedConnection<Client>, error: Error): Error {
  line.fail(error);
  return error instanceof DeviceUnavailable ? error : new DeviceUnavailable(error.message, { cause: error });
}

function translate(error: unknown, unitId: number, timeoutMs: number): Error {
  if (error instanceof DeviceUnavailable) return error;
  const e = (error ?? {}) as ModbusSerialError;
  if (typeof e.modbusCode === 'number')
    return new ProtocolError(e.message ?? `Modbus exception ${e.modbusCode}`, {
      exceptionCode: e.modbusCode,
      cause: error,
    });
  if (e.name === 'TransactionTimedOutError' || e.errno === 'ETIMEDOUT')
    return new ProtocolTimeout(`no answer from modbus unit ${unitId} within ${timeoutMs} ms`, {
      cause: error,
    });
  if (e.name === 'PortNotOpenError')
    return new DeviceUnavailable('the modbus port is not open', { cause: error });
  return new ProtocolError(messageOf(error), { cause: error });
}

/** Opens one connection; `lost` is called when the peer or the port closes it. */
async function open(
  config: ModbusConfig,
  mode: 'TCP' | 'RTU',
  lost: (reason: Error) => void,
  log: Logger,
): Promise<Client> {
  const client = new Modbus.default();
  // Set before connecting: on TCP it also bounds the connection attempt.
  client.setTimeout(config.timeout ?? DEFAULT_TIMEOUT_MS);
  client.on('error', (error) => log.warn({ err: error }, 'modbus port error'));
  client.on('close', () => lost(new DeviceUnavailable('the modbus connection closed')));
  const where = mode === 'TCP' ? `${config.ip}:${config.port ?? 502}` : config.serialName;
  try {
    if (mode === 'TCP') {
      if (!config.ip) throw new Error('no ip in the protocol config');
      await client.connectTCP(config.ip, { port: config.port ?? 502 });
    } else {
      if (!config.serialName) throw new Error('no serialName in the protocol config');
      await client.connectRTUBuffered(config.serialName, {
        baudRate: config.baudRate ?? 9600,
        ...(config.dataBits === undefined ? {} : { dataBits: config.dataBits }),
        ...(config.stopBits === undefined ? {} : { stopBits: config.stopBits }),
        ...(config.parity === undefined ? {} : { parity: PARITY[config.parity] }),
      });
    }
  } catch (error) {
    await shut(client, mode);
    throw new DeviceUnavailable(`modbus ${mode} ${where} unreachable: ${messageOf(error)}`, { cause: error });
  }
  log.info({ mode, where }, 'modbus line open');
  return client;
}

/** A request for one member of `request` only. */
function alone(request: ReadRequest, member: ReadRequest['points'][number]): ReadRequest {
  return {
    register: request.register,
    start: request.start + member.offset,
    count: member.count,
    points: [{ index: member.index, offset: 0, count: member.count }],
  };
}

/** One planned read: FC1 coils, FC2 discrete inputs, FC3 holding registers, FC4 input registers. */
function readRequest(client: Client, request: ReadRequest): Promise<number[]> {
  const { start, count } = request;
  let sent: Promise<{ data: (number | boolean)[] }>;
  switch (request.register) {
    case 'CoilRegister':
      sent = client.readCoils(start, count);
      break;
    case 'DiscreteInputRegister':
      sent = client.readDiscreteInputs(start, count);
      break;
    case 'HoldingRegister':
      sent = client.readHoldingRegisters(start, count);
      break;
    case 'InputRegister':
      sent = client.readInputRegisters(start, count);
      break;
  }
  // Bits come back padded to whole bytes; words as numbers. Both become numbers here (bits 0/1).
  return sent.then(({ data }) => {
    const words = new Array<number>(Math.min(count, data.length));
    for (let i = 0; i < words.length; i++) {
      const v = data[i]!;
      words[i] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
    }
    return words;
  });
}

/** Each point's encoding, worked out once: a point is read every cycle, and the runtime keeps its points. */
const encodings = new WeakMap<ModbusPoint, RegisterEncoding>();

function encodingOf(point: ModbusPoint): RegisterEncoding {
  let encoding = encodings.get(point);
  if (!encoding) {
    encoding = encodingFor(point);
    encodings.set(point, encoding);
  }
  return encoding;
}

function encodingFor({ visitor, property }: ModbusPoint): RegisterEncoding {
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

/** Releases a client's socket or serial port: destroy cancels modbus-serial's pending request timers. */
async function shut(client: Client, mode: 'TCP' | 'RTU'): Promise<void> {
  const port = (client as unknown as { _port?: EventEmitter & { isOpen?: boolean } })._port;
  const wasOpen = port?.isOpen === true;
  (client as unknown as EventEmitter).removeAllListeners('close');
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
