import type { EventEmitter } from 'node:events';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Transform } from 'node:stream';
import { type IServiceVector, ServerSerial, ServerTCP } from 'modbus-serial';
import type { ModbusConfig, ModbusVisitor, ResolvedDevice } from '../../device-models/index.js';
import { type Logger, silentLogger } from '../../sdk/logger.js';
import type { PtyPair } from '../../sdk/testing/pty.js';
import { ModbusLineError } from './errors.js';
import { createRegisterMap, ModbusException, type RegisterMap } from './register-map.js';
import { seedFor } from './waveform.js';

export type ModbusDevice = ResolvedDevice<ModbusConfig, ModbusVisitor>;

export type ModbusSimulatorTransport =
  | { kind: 'tcp'; host?: string; port?: number }
  /**
   * `path` is the serial line the simulator serves; without it the simulator opens its own pty pair and
   * serves one end. `peer` is what a client opens (returned as `serialName`); it defaults to the other end
   * of the simulator's own pty pair.
   */
  | { kind: 'rtu'; path?: string; peer?: string; baudRate?: number };

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

/** How many requests a line keeps in `requests` by default before it forgets the older half. */
export const REQUESTS_KEPT = 65_536;

export interface ModbusLineOptions {
  /**
   * Seeds the waveforms of ReadOnly properties (default 0). Each device mixes its id into the seed, so
   * identical meters on one line read different values.
   */
  seed?: number;
  /** Default `{ kind: 'tcp', host: '127.0.0.1', port: 0 }`. */
  transport?: ModbusSimulatorTransport;
  log?: Logger;
  /** Clock in ms (default Date.now): waveforms are evaluated from the time elapsed since creation. */
  now?: () => number;
  /** How many requests `requests` keeps before it forgets the older half (default REQUESTS_KEPT). */
  requestsKept?: number;
  /** Called as each request arrives, before it is answered: lets a test wait for a request to be sent. */
  onRequest?: (request: ModbusRequest) => void;
}

/** Where a client reaches the line; each device keeps its own `slaveID`. */
export type ModbusLineEndpoint =
  | { communicateMode: 'TCP'; ip: string; port: number }
  | { communicateMode: 'RTU'; serialName?: string; baudRate: number };

/** One slave on the line: its device, its own faults, and test control of its registers. */
export interface ModbusUnit {
  readonly unitId: number;
  readonly device: ModbusDevice;
  /** This unit's faults, on top of the line's (drop either, delays add up, the line's exception first). */
  faults: ModbusFaults;
  /** The last value a client wrote to the property's register(s), decoded with its visitor. */
  written(property: string): number | boolean | undefined;
  /** Test control: puts a value into the property's register(s) (a ReadOnly property stops moving). */
  set(property: string, value: number | boolean): void;
  /** The property's current value, decoded as a client reads it. */
  get(property: string): number | boolean;
}

/** Several slaves behind one TCP port or on one serial line, each answering under its own unit ID. */
export interface ModbusLineSimulator {
  /** Starts serving; resolves to what a client needs to reach the line. */
  start(): Promise<ModbusLineEndpoint>;
  /** Stops serving and frees the port or serial line; safe to call twice. */
  stop(): Promise<void>;
  /** Faults of the whole line (every unit); settable at any time. */
  faults: ModbusFaults;
  /**
   * The requests received on the line, in order, whether answered or not (unit IDs nobody has too): every one
   * up to `requestsKept` (option), then the most recent (at least half as many), so that a simulator serving
   * for days keeps a bounded log.
   */
  readonly requests: ModbusRequest[];
  readonly units: readonly ModbusUnit[];
  /** The unit answering as `id`; throws when no device has it. */
  unit(id: number): ModbusUnit;
  /** The unit of a device, by name or id; throws when the line has no such device. */
  device(name: string): ModbusUnit;
}

/** One device as the line serves it. */
export interface UnitSpec {
  device: ModbusDevice;
  unitId: number;
  seed: number;
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

/** Every unit ID: modbus-serial's servers then hand each request to the vector with the ID it was sent to. */
const ANY_UNIT = 255;

/**
 * A Modbus line: one server (modbus-serial's ServerTCP, or ServerSerial on a serial line, a pty pair in
 * tests) answering for each device under its `slaveID` (default 1). A unit ID no device has gets no answer,
 * as on an RS-485 line or from a TCP gateway whose target is absent. Two devices with one unit ID throw.
 */
export function createModbusLineSimulator(
  devices: readonly ModbusDevice[],
  options: ModbusLineOptions = {},
): ModbusLineSimulator {
  const seed = options.seed ?? 0;
  return serveModbusUnits(
    devices.map((device) => ({ device, unitId: device.config.slaveID ?? 1, seed: seedFor(seed, device.id) })),
    options,
  );
}

/** The line itself, each device at the unit ID and with the seed given (createModbusSimulator uses it). */
export function serveModbusUnits(
  specs: readonly UnitSpec[],
  options: Omit<ModbusLineOptions, 'seed'> = {},
): ModbusLineSimulator {
  const log = (options.log ?? silentLogger).child({
    module: 'mapper:modbus:simulator',
    devices: specs.map((s) => s.device.id),
  });
  const now = options.now ?? Date.now;
  const transport = options.transport ?? { kind: 'tcp' };
  const served = new Map<number, { unit: ModbusUnit; registers: RegisterMap }>();
  for (const { device, unitId, seed } of specs) {
    const other = served.get(unitId)?.unit.device;
    if (other)
      throw new ModbusLineError(`${other.id} and ${device.id} both answer as unit ${unitId} on one line`);
    const registers = createRegisterMap(device.properties, seed, now);
    const unit: ModbusUnit = {
      unitId,
      device,
      faults: { drop: false, delayMs: 0 },
      written: (name) => registers.written(name),
      set: (name, value) => registers.set(name, value),
      get: (name) => registers.get(name),
    };
    served.set(unitId, { unit, registers });
  }
  const units = [...served.values()].map((s) => s.unit);
  const requests: ModbusRequest[] = [];
  const kept = Math.max(2, options.requestsKept ?? REQUESTS_KEPT);
  const timers = new Set<NodeJS.Timeout>();
  let server: ServerTCP | ServerSerial | undefined;
  let pty: PtyPair | undefined;
  let started: Promise<ModbusLineEndpoint> | undefined;
  let stopped: Promise<void> | undefined;

  /** Answers one vector call for `unitId`, applying the line's and the unit's faults. */
  function answer<T>(unitId: number, cb: Callback<T>, work: (registers: RegisterMap) => T, onError: T): void {
    const target = served.get(unitId);
    // Nobody has this address: silence.
    if (!target) return;
    const own = target.unit.faults;
    if (line.faults.drop || own.drop) return;
    const run = (): void => {
      if (stopped) return;
      const exceptionCode = line.faults.exceptionCode ?? own.exceptionCode;
      if (exceptionCode !== undefined) {
        cb(new ModbusException(exceptionCode, 'injected fault'), onError);
        return;
      }
      let value: T;
      try {
        value = work(target.registers);
      } catch (error) {
        cb(error instanceof Error ? error : new Error(String(error)), onError);
        return;
      }
      cb(null, value);
    };
    const delayMs = line.faults.delayMs + own.delayMs;
    if (delayMs <= 0) {
      run();
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, delayMs);
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
    if (requests.length >= kept) requests.splice(0, Math.ceil(kept / 2));
    requests.push(request);
    options.onRequest?.(request);
  }

  // modbus-serial picks callback or promise style from each function's arity: these all take a callback,
  // which is what lets a fault delay the answer or never give one.
  const vector: IServiceVector = {
    getCoil: (addr: number, unit: number, cb: Callback<boolean>) =>
      answer(unit, cb, (r) => r.readBit('coil', addr), false),
    getDiscreteInput: (addr: number, unit: number, cb: Callback<boolean>) =>
      answer(unit, cb, (r) => r.readBit('discrete', addr), false),
    getHoldingRegister: (addr: number, unit: number, cb: Callback<number>) =>
      answer(unit, cb, (r) => r.readWords('holding', addr, 1)[0]!, 0),
    getInputRegister: (addr: number, unit: number, cb: Callback<number>) =>
      answer(unit, cb, (r) => r.readWords('input', addr, 1)[0]!, 0),
    // On error these must still hand back an array: modbus-serial indexes it before looking at the error.
    getMultipleHoldingRegisters: (addr: number, length: number, unit: number, cb: Callback<number[]>) =>
      answer(unit, cb, (r) => r.readWords('holding', addr, length), []),
    getMultipleInputRegisters: (addr: number, length: number, unit: number, cb: Callback<number[]>) =>
      answer(unit, cb, (r) => r.readWords('input', addr, length), []),
    setCoil: (addr: number, value: boolean, unit: number, cb: Callback<void>) =>
      answer(unit, cb, (r) => r.writeBit(addr, value), undefined),
    setRegister: (addr: number, value: number, unit: number, cb: Callback<void>) =>
      answer(unit, cb, (r) => r.writeWords(addr, [value]), undefined),
    setRegisterArray: (addr: number, values: number[], unit: number, cb: Callback<void>) =>
      answer(unit, cb, (r) => r.writeWords(addr, values), undefined),
  };

  async function startTcp(host: string, port: number): Promise<ModbusLineEndpoint> {
    // ServerTCP reads `options.port || 502`, so a numeric 0 would bind 502; net.Server accepts the string.
    const tcp = new ServerTCP(vector, { host, port: String(port) as unknown as number, unitID: ANY_UNIT });
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
    return { communicateMode: 'TCP', ip: host, port: bound };
  }

  async function startRtu(
    transport: Extract<ModbusSimulatorTransport, { kind: 'rtu' }>,
  ): Promise<ModbusLineEndpoint> {
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
        unitID: ANY_UNIT,
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
    return { communicateMode: 'RTU', ...(peer === undefined ? {} : { serialName: peer }), baudRate };
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

  const line: ModbusLineSimulator = {
    faults: { drop: false, delayMs: 0 },
    requests,
    units,
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
    unit(id) {
      const target = served.get(id);
      if (!target) throw new Error(`no device answers as unit ${id} on this line`);
      return target.unit;
    },
    device(name) {
      const unit = units.find((u) => u.device.name === name || u.device.id === name);
      if (!unit) throw new Error(`no device "${name}" on this line`);
      return unit;
    },
  };
  return line;
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
