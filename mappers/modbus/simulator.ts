import type { EventEmitter } from 'node:events';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Transform } from 'node:stream';
import { type IServiceVector, ServerSerial, ServerTCP } from 'modbus-serial';
import {
  type ModbusConfig,
  type ModbusDataType,
  type ModbusRegister,
  type ModbusVisitor,
  modbusDataType,
  parseTwinValue,
  type ResolvedDevice,
  type ResolvedProperty,
} from '../../device-models/index.js';
import {
  decodeRegisters,
  encodeRegisters,
  type RegisterEncoding,
  registerCount,
} from '../../sdk/codecs/modbus-registers.js';
import { type Logger, silentLogger } from '../../sdk/logger.js';
import type { PtyPair } from '../../sdk/testing/pty.js';
import { propertyRange, type Range, waveFor } from './waveform.js';

export type ModbusSimulatorTransport =
  | { kind: 'tcp'; host?: string; port?: number }
  /**
   * `path` is the serial line the simulator serves; without it the simulator opens its own pty pair and
   * serves one end. `peer` is what a client opens (returned as `serialName`); it defaults to the other end
   * of the simulator's own pty pair.
   */
  | { kind: 'rtu'; path?: string; peer?: string; baudRate?: number };

export interface ModbusSimulatorOptions {
  /** Seeds the waveforms of ReadOnly properties (default 0). */
  seed?: number;
  /** Default `{ kind: 'tcp', host: '127.0.0.1', port: 0 }`. */
  transport?: ModbusSimulatorTransport;
  log?: Logger;
  /** The unit (slave) ID answered; default the device's `slaveID`, else 1. */
  unitId?: number;
  /** Clock in ms (default Date.now): waveforms are evaluated from the time elapsed since creation. */
  now?: () => number;
  /** Called as each request arrives, before it is answered: lets a test wait for a request to be sent. */
  onRequest?: (request: ModbusRequest) => void;
}

export interface ModbusFaults {
  /** Never answer (the client times out). */
  drop: boolean;
  /** Answer this many ms late. */
  delayMs: number;
  /** Answer every request with this Modbus exception code. */
  exceptionCode?: number;
}

export interface ModbusRequest {
  fc: number;
  address: number;
  count: number;
  unitId: number;
  at: number;
}

export interface ModbusSimulator {
  /** Starts serving; resolves to the protocol config a client needs to reach it. */
  start(): Promise<Partial<ModbusConfig>>;
  /** Stops serving and frees the port or serial line; safe to call twice. */
  stop(): Promise<void>;
  /** Settable at any time. */
  faults: ModbusFaults;
  /** Every request received, in order, whether answered or not. */
  readonly requests: ModbusRequest[];
  /** The last value a client wrote to the property's register(s), decoded with its visitor. */
  written(property: string): number | boolean | undefined;
  /** Test control: puts a value into the property's register(s) (a ReadOnly property stops moving). */
  set(property: string, value: number | boolean): void;
  /** The property's current value, decoded as a client reads it. */
  get(property: string): number | boolean;
}

/** Internals of modbus-serial's servers used here: the listening net.Server, and the RTU framing stream. */
interface TcpInternals {
  _server: Server;
}
interface SerialInternals {
  _server: Transform & { intervalID?: NodeJS.Timeout };
  _serverPath: EventEmitter;
}

type Callback<T> = (error: Error | null, value: T) => void;

/**
 * A Modbus slave serving exactly the registers and coils a Device names, over TCP (modbus-serial's
 * ServerTCP) or RTU (ServerSerial on a serial line, a pty pair in tests). Every other address answers
 * exception 2. ReadOnly properties follow seeded waveforms; ReadWrite ones keep what is written.
 */
export function createModbusSimulator(
  device: ResolvedDevice<ModbusConfig, ModbusVisitor>,
  options: ModbusSimulatorOptions = {},
): ModbusSimulator {
  const log = (options.log ?? silentLogger).child({ module: 'mapper:modbus:simulator', device: device.id });
  const now = options.now ?? Date.now;
  const unitId = options.unitId ?? device.config.slaveID ?? 1;
  const transport = options.transport ?? { kind: 'tcp' };
  const registers = createRegisterMap(device.properties, options.seed ?? 0, now);
  const faults: ModbusFaults = { drop: false, delayMs: 0 };
  const requests: ModbusRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let server: ServerTCP | ServerSerial | undefined;
  let pty: PtyPair | undefined;
  let started: Promise<Partial<ModbusConfig>> | undefined;
  let stopped: Promise<void> | undefined;

  /** Answers one vector call, applying the current faults. */
  function answer<T>(cb: Callback<T>, work: () => T, onError: T): void {
    if (faults.drop) return;
    const run = (): void => {
      if (stopped) return;
      if (faults.exceptionCode !== undefined) {
        cb(new ModbusException(faults.exceptionCode, 'injected fault'), onError);
        return;
      }
      let value: T;
      try {
        value = work();
      } catch (error) {
        cb(error instanceof Error ? error : new Error(String(error)), onError);
        return;
      }
      cb(null, value);
    };
    if (faults.delayMs <= 0) {
      run();
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, faults.delayMs);
    timers.add(timer);
  }

  function record(pdu: Buffer): void {
    if (pdu.length < 2) return;
    const fc = pdu.readUInt8(1);
    const single = fc === 5 || fc === 6;
    const request: ModbusRequest = {
      fc,
      address: pdu.length >= 4 ? pdu.readUInt16BE(2) : 0,
      count: single ? 1 : pdu.length >= 6 ? pdu.readUInt16BE(4) : 0,
      unitId: pdu.readUInt8(0),
      at: now(),
    };
    requests.push(request);
    options.onRequest?.(request);
  }

  // modbus-serial picks callback or promise style from each function's arity: these all take a callback,
  // which is what lets a fault delay the answer or never give one.
  const vector: IServiceVector = {
    getCoil: (addr: number, _unit: number, cb: Callback<boolean>) =>
      answer(cb, () => registers.readBit('coil', addr), false),
    getDiscreteInput: (addr: number, _unit: number, cb: Callback<boolean>) =>
      answer(cb, () => registers.readBit('discrete', addr), false),
    getHoldingRegister: (addr: number, _unit: number, cb: Callback<number>) =>
      answer(cb, () => registers.readWords('holding', addr, 1)[0]!, 0),
    getInputRegister: (addr: number, _unit: number, cb: Callback<number>) =>
      answer(cb, () => registers.readWords('input', addr, 1)[0]!, 0),
    // On error these must still hand back an array: modbus-serial indexes it before looking at the error.
    getMultipleHoldingRegisters: (addr: number, length: number, _unit: number, cb: Callback<number[]>) =>
      answer(cb, () => registers.readWords('holding', addr, length), []),
    getMultipleInputRegisters: (addr: number, length: number, _unit: number, cb: Callback<number[]>) =>
      answer(cb, () => registers.readWords('input', addr, length), []),
    setCoil: (addr: number, value: boolean, _unit: number, cb: Callback<void>) =>
      answer(cb, () => registers.writeBit(addr, value), undefined),
    setRegister: (addr: number, value: number, _unit: number, cb: Callback<void>) =>
      answer(cb, () => registers.writeWords(addr, [value]), undefined),
    setRegisterArray: (addr: number, values: number[], _unit: number, cb: Callback<void>) =>
      answer(cb, () => registers.writeWords(addr, values), undefined),
  };

  async function startTcp(host: string, port: number): Promise<Partial<ModbusConfig>> {
    // ServerTCP reads `options.port || 502`, so a numeric 0 would bind 502; net.Server accepts the string.
    const tcp = new ServerTCP(vector, { host, port: String(port) as unknown as number, unitID: unitId });
    server = tcp;
    const net = (tcp as unknown as TcpInternals)._server;
    net.on('connection', (socket: Socket) => sniffTcp(socket, record));
    tcp.on('socketError', (error) => log.debug({ err: error }, 'client socket error'));
    await new Promise<void>((resolve, reject) => {
      tcp.once('initialized', () => resolve());
      tcp.once('serverError', reject);
    });
    const bound = (net.address() as AddressInfo).port;
    log.info({ host, port: bound }, 'modbus TCP simulator listening');
    return { communicateMode: 'TCP', ip: host, port: bound, slaveID: unitId };
  }

  async function startRtu(
    transport: Extract<ModbusSimulatorTransport, { kind: 'rtu' }>,
  ): Promise<Partial<ModbusConfig>> {
    let path = transport.path;
    let peer = transport.peer;
    if (path === undefined) {
      const { openPtyPair } = await import('../../sdk/testing/pty.js');
      pty = await openPtyPair();
      path = pty.a;
      peer ??= pty.b;
    }
    const baudRate = transport.baudRate ?? 9600;
    await new Promise<void>((resolve, reject) => {
      server = new ServerSerial(vector, {
        path,
        baudRate,
        unitID: unitId,
        // A frame ends after 3.5 character times of silence (1.75 ms above 19200 baud).
        interval: Math.max(2, Math.ceil(baudRate > 19_200 ? 1.75 : 38_500 / baudRate)),
        openCallback: (error) => (error ? reject(error) : resolve()),
      } as ConstructorParameters<typeof ServerSerial>[1]);
    });
    const internals = server as unknown as SerialInternals;
    internals._server.on('data', record);
    // ServerSerial leaves the port's own errors unhandled (they would crash the process): log them.
    internals._serverPath.on('error', (error: Error) => log.warn({ err: error }, 'serial port error'));
    log.info({ path, baudRate }, 'modbus RTU simulator listening');
    return {
      communicateMode: 'RTU',
      ...(peer === undefined ? {} : { serialName: peer }),
      baudRate,
      slaveID: unitId,
    };
  }

  async function shutdown(): Promise<void> {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    const current = server;
    server = undefined;
    if (current instanceof ServerSerial) {
      // The framing stream waits for the inter-frame gap on a timer; nothing is coming any more.
      const framing = (current as unknown as SerialInternals)._server;
      if (framing.intervalID) clearTimeout(framing.intervalID);
    }
    if (current) await new Promise<void>((resolve) => current.close(() => resolve()));
    await pty?.close();
    pty = undefined;
  }

  return {
    faults,
    requests,
    start() {
      if (stopped) return Promise.reject(new Error('the simulator was stopped'));
      started ??= (async () => {
        try {
          return transport.kind === 'tcp'
            ? await startTcp(transport.host ?? '127.0.0.1', transport.port ?? 0)
            : await startRtu(transport);
        } catch (error) {
          await shutdown();
          throw error;
        }
      })();
      return started;
    },
    stop() {
      stopped ??= (async () => {
        await started?.catch(() => {});
        await shutdown();
      })();
      return stopped;
    },
    written: (name) => registers.written(name),
    set: (name, value) => registers.set(name, value),
    get: (name) => registers.get(name),
  };
}

/** Reassembles Modbus TCP frames (MBAP header + PDU) from one client socket and records each request. */
function sniffTcp(socket: Socket, record: (pdu: Buffer) => void): void {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 8) {
      const length = pending.readUInt16BE(4);
      if (pending.length < 6 + length) break;
      record(pending.subarray(6, 6 + length));
      pending = pending.subarray(6 + length);
    }
  });
}

/** Modbus exception 2: the address is not one this slave serves (or not writable). */
export const ILLEGAL_DATA_ADDRESS = 2;

/** Thrown inside the service vector; modbus-serial answers with `modbusErrorCode`. */
export class ModbusException extends Error {
  constructor(
    readonly modbusErrorCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ModbusException';
  }
}

type Table = 'coil' | 'discrete' | 'holding' | 'input';

const TABLES: Record<ModbusRegister, Table> = {
  CoilRegister: 'coil',
  DiscreteInputRegister: 'discrete',
  HoldingRegister: 'holding',
  InputRegister: 'input',
};

/** The raw range of each encoding; × scale gives what a property can hold. */
const RAW_RANGE: Record<ModbusDataType, Range> = {
  boolean: { min: 0, max: 1 },
  int16: { min: -0x8000, max: 0x7fff },
  uint16: { min: 0, max: 0xffff },
  int32: { min: -0x80000000, max: 0x7fffffff },
  uint32: { min: 0, max: 0xffffffff },
  float32: { min: -3.4e38, max: 3.4e38 },
  float64: { min: -Number.MAX_VALUE, max: Number.MAX_VALUE },
};

/** One property's place in the slave's memory. */
interface Slot {
  property: ResolvedProperty<ModbusVisitor>;
  table: Table;
  address: number;
  /** Addresses served: the visitor's limit, at least the encoding's width. */
  span: number;
  encoding: RegisterEncoding;
  writable: boolean;
  /** ReadOnly properties move until a test pins them with set(). */
  wave?: (elapsedMs: number) => number | boolean;
  written?: number | boolean;
}

/** The slave's memory: the four tables, holding only what the device's properties name. */
function createRegisterMap(
  properties: readonly ResolvedProperty<ModbusVisitor>[],
  seed: number,
  now: () => number,
) {
  const startedAt = now();
  const memory: Record<Table, Map<number, number>> = {
    coil: new Map(),
    discrete: new Map(),
    holding: new Map(),
    input: new Map(),
  };
  const index: Record<Table, Map<number, Slot>> = {
    coil: new Map(),
    discrete: new Map(),
    holding: new Map(),
    input: new Map(),
  };
  const slots = new Map<string, Slot>();

  const bits = (slot: Slot) => slot.table === 'coil' || slot.table === 'discrete';

  function store(slot: Slot, value: number | boolean): void {
    const table = memory[slot.table];
    if (bits(slot)) table.set(slot.address, value === true || (value !== false && value !== 0) ? 1 : 0);
    else
      encodeRegisters(Number(value), slot.encoding).forEach((word, i) => {
        table.set(slot.address + i, word);
      });
  }

  function decode(slot: Slot): number | boolean {
    const table = memory[slot.table];
    if (bits(slot)) return table.get(slot.address) === 1;
    const width = registerCount(slot.encoding.dataType);
    const words = Array.from({ length: width }, (_, i) => table.get(slot.address + i) ?? 0);
    const value = decodeRegisters(words, slot.encoding);
    return slot.property.model.type === 'INT' ? Math.round(value) : value;
  }

  function refresh(slot: Slot): void {
    if (slot.wave) store(slot, slot.wave(now() - startedAt));
  }

  function lookup(table: Table, address: number, forWrite = false): Slot {
    const slot = index[table].get(address);
    if (!slot || (forWrite && !slot.writable))
      throw new ModbusException(
        ILLEGAL_DATA_ADDRESS,
        `${forWrite && slot ? 'read-only' : 'no'} ${table} at ${address}`,
      );
    return slot;
  }

  function named(name: string): Slot {
    const slot = slots.get(name);
    if (!slot) throw new Error(`the simulated device has no property "${name}"`);
    return slot;
  }

  for (const property of properties) {
    const { visitor, model } = property;
    const table = TABLES[visitor.register];
    const dataType = modbusDataType(visitor, model.type);
    const width = registerCount(dataType);
    const encoding: RegisterEncoding = {
      dataType,
      ...(visitor.scale === undefined ? {} : { scale: visitor.scale }),
      ...(visitor.isSwap === undefined ? {} : { isSwap: visitor.isSwap }),
      ...(visitor.isRegisterSwap === undefined ? {} : { isRegisterSwap: visitor.isRegisterSwap }),
    };
    const slot: Slot = {
      property,
      table,
      address: visitor.offset,
      span: Math.max(visitor.limit ?? width, width),
      encoding,
      writable:
        (table === 'coil' || table === 'holding') && (model.accessMode ?? 'ReadWrite') === 'ReadWrite',
    };
    const scale = visitor.scale ?? 1;
    const raw = RAW_RANGE[dataType];
    const representable = {
      min: Math.min(raw.min * scale, raw.max * scale),
      max: Math.max(raw.min * scale, raw.max * scale),
    };
    for (let i = 0; i < slot.span; i++) {
      index[table].set(slot.address + i, slot);
      memory[table].set(slot.address + i, 0);
    }
    slots.set(property.name, slot);
    if (!slot.writable) slot.wave = waveFor(model, seed, representable);
    else store(slot, initialValue(property, representable));
  }

  return {
    readBit(table: Table, address: number): boolean {
      const slot = lookup(table, address);
      refresh(slot);
      return memory[table].get(address) === 1;
    },
    readWords(table: Table, address: number, count: number): number[] {
      const touched = new Set<Slot>();
      for (let i = 0; i < count; i++) touched.add(lookup(table, address + i));
      for (const slot of touched) refresh(slot);
      return Array.from({ length: count }, (_, i) => memory[table].get(address + i) ?? 0);
    },
    writeBit(address: number, value: boolean): void {
      const slot = lookup('coil', address, true);
      memory.coil.set(address, value ? 1 : 0);
      slot.written = decode(slot);
    },
    writeWords(address: number, values: readonly number[]): void {
      const touched = new Set<Slot>();
      for (let i = 0; i < values.length; i++) touched.add(lookup('holding', address + i, true));
      values.forEach((word, i) => {
        memory.holding.set(address + i, word);
      });
      for (const slot of touched) slot.written = decode(slot);
    },
    written: (name: string) => named(name).written,
    set(name: string, value: number | boolean): void {
      const slot = named(name);
      slot.wave = undefined;
      store(slot, value);
    },
    get(name: string): number | boolean {
      const slot = named(name);
      refresh(slot);
      return decode(slot);
    },
  };
}

/** A ReadWrite property starts at its desired value, else in the middle of its range. */
function initialValue(property: ResolvedProperty<ModbusVisitor>, representable: Range): number | boolean {
  const type = property.model.type;
  if (property.desired !== undefined) {
    const parsed = parseTwinValue(type, property.desired);
    if (parsed.ok && typeof parsed.value !== 'string') return parsed.value;
  }
  if (type === 'BOOLEAN') return false;
  const range = propertyRange(property.model, representable);
  const middle = (range.min + range.max) / 2;
  return type === 'INT' ? Math.round(middle) : middle;
}
