import type { EventEmitter } from 'node:events';
import type {
  Noble,
  NobleCharacteristic,
  NoblePeripheral,
  NobleService,
} from '@abandonware/noble/with-bindings.js';
import {
  type BleConfig,
  type BleVisitor,
  outOfRange,
  parseTwinValue,
  type TwinValue,
  TwinValueError,
} from '../../device-models/index.js';
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
import { dataWriteBytes } from './data-converter.js';
import { decodeProperty, encodeProperty, normalizeUuid, peripheralId } from './encoding.js';

type BlePoint = Point<BleVisitor>;

/** Gives the noble bindings object a driver talks through (an HCI socket, or a simulated radio). */
export type BindingsFactory = () => EventEmitter | Promise<EventEmitter>;

export interface BleDriverOptions {
  /** Default: the platform's real bindings, loaded on first use and shared by every driver. */
  bindings?: BindingsFactory;
  /** How long one GATT request may take, ms; default 2000. */
  timeoutMs?: number;
  /** How long connect() scans for the peripheral (and waits for the adapter to power on), ms; default 10 000. */
  scanTimeoutMs?: number;
}

export { OFFLINE_AFTER_TIMEOUTS } from '../../sdk/driver.js';

const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_SCAN_TIMEOUT_MS = 10_000;

/** One Noble per bindings object: noble binds its listeners to the bindings for good. */
const nobles = new WeakMap<EventEmitter, Noble>();
/** How many drivers are scanning on each noble. */
const scanners = new WeakMap<Noble, number>();

async function nobleFor(bindings: EventEmitter): Promise<Noble> {
  let noble = nobles.get(bindings);
  if (!noble) {
    const { default: withBindings } = await import('@abandonware/noble/with-bindings.js');
    noble = withBindings(bindings);
    nobles.set(bindings, noble);
  }
  return noble;
}

let realBindings: Promise<EventEmitter> | undefined;

/**
 * The platform's bindings (HCI socket on Linux), loaded on first use and shared; needs a Bluetooth adapter.
 * A failure (e.g. EAFNOSUPPORT without one) is not cached: the next connect tries again.
 */
export const defaultBindings: BindingsFactory = () => {
  realBindings ??= import('@abandonware/noble/lib/resolve-bindings.js')
    .then(({ default: resolve }) => resolve())
    .catch((error: unknown) => {
      realBindings = undefined;
      throw error;
    });
  return realBindings;
};

/**
 * BLE through noble: scans for the configured address, connects, discovers the GATT characteristics, reads
 * and writes them (KubeEdge's dataConverter/dataWrite), and subscribes to notifications. One request at a
 * time per connection. Starts no timers beyond request timeouts and never reconnects: the runtime does.
 */
export class BleDriver implements Driver<BleConfig, BleVisitor> {
  private readonly log: Logger;
  private readonly factory: BindingsFactory;
  private readonly timeoutMs: number;
  private readonly scanTimeoutMs: number;
  private status: DriverState = 'offline';
  private timeouts = 0;
  private noble: Noble | undefined;
  private peripheral: NoblePeripheral | undefined;
  private characteristics = new Map<string, NobleCharacteristic>();
  /** Removes the listeners this driver put on noble, the peripheral and characteristics. */
  private cleanups: (() => void)[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  /** Rejects whatever waits on the connection when it drops or is closed. */
  private abort = rejecter();
  private closing: Promise<void> | undefined;

  constructor(context: DriverContext, options: BleDriverOptions = {}) {
    this.log = context.log.child({ module: 'mapper:ble' });
    this.factory = options.bindings ?? defaultBindings;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.scanTimeoutMs = options.scanTimeoutMs ?? DEFAULT_SCAN_TIMEOUT_MS;
  }

  async connect(config: BleConfig): Promise<void> {
    if (this.peripheral || this.status === 'connecting') await this.close();
    this.closing = undefined;
    this.status = 'connecting';
    this.timeouts = 0;
    this.abort = rejecter();
    const abort = this.abort;
    const address = config.macAddress;
    try {
      const noble = await Promise.race([this.nobleInstance(), abort.promise]);
      await this.poweredOn(noble, abort.promise);
      const peripheral = await this.scan(noble, peripheralId(address), abort.promise);
      this.peripheral = peripheral;
      const onDisconnect = (reason: unknown) => {
        if (this.peripheral !== peripheral || this.status === 'closed') return;
        this.log.info({ address, reason }, 'ble peripheral disconnected');
        this.status = 'offline';
        this.abort.reject(new DeviceUnavailable(`ble peripheral ${address} disconnected`));
      };
      peripheral.on('disconnect', onDisconnect);
      this.cleanups.push(() => peripheral.off('disconnect', onDisconnect));
      await this.within(
        callback<void>((done) => peripheral.connect((error) => done(error ?? null))),
        this.scanTimeoutMs,
        abort.promise,
        `connecting to ${address}`,
      );
      const services = await this.within(
        callback<NobleService[]>((done) => peripheral.discoverServices([], done)),
        this.timeoutMs,
        abort.promise,
        'discovering services',
      );
      for (const service of services) {
        const found = await this.within(
          callback<NobleCharacteristic[]>((done) => service.discoverCharacteristics([], done)),
          this.timeoutMs,
          abort.promise,
          'discovering characteristics',
        );
        for (const c of found) if (!this.characteristics.has(c.uuid)) this.characteristics.set(c.uuid, c);
      }
    } catch (error) {
      const closed = (this.status as DriverState) === 'closed';
      await this.release();
      if (!closed) this.status = 'offline';
      if (error instanceof DeviceUnavailable) throw error;
      throw new DeviceUnavailable(`ble peripheral ${address} unreachable: ${messageOf(error)}`, {
        cause: error,
      });
    }
    this.status = 'online';
    this.log.info({ address, characteristics: this.characteristics.size }, 'ble connected');
  }

  state(): DriverState {
    return this.status;
  }

  readable(point: BlePoint): boolean {
    const c = this.characteristics.get(normalizeUuid(point.visitor.characteristicUUID));
    return c ? c.properties.includes('read') : true;
  }

  read(point: BlePoint): Promise<Reading> {
    return readOneOf(this, point);
  }

  /** Reads each characteristic once, however many points it carries. */
  async readMany(points: BlePoint[]): Promise<(Reading | Error)[]> {
    const results: (Reading | Error)[] = new Array(points.length);
    const groups = new Map<string, number[]>();
    points.forEach((p, i) => {
      const uuid = normalizeUuid(p.visitor.characteristicUUID);
      groups.set(uuid, [...(groups.get(uuid) ?? []), i]);
    });
    for (const [uuid, indices] of groups) {
      let data: Buffer;
      try {
        data = await this.request(
          `read ${uuid}`,
          (c) => {
            if (!c.properties.includes('read'))
              throw new ProtocolError(`characteristic ${uuid} cannot be read (${c.properties.join(', ')})`);
            return callback<Buffer>((done) => c.read(done));
          },
          uuid,
        );
      } catch (error) {
        for (const i of indices) results[i] = asError(error);
        continue;
      }
      const timestamp = Date.now();
      for (const i of indices) results[i] = decode(points[i]!, data, timestamp);
    }
    return results;
  }

  async write(point: BlePoint, value: TwinValue): Promise<void> {
    const data = toBytes(point, value);
    const uuid = normalizeUuid(point.visitor.characteristicUUID);
    await this.request(
      `write ${uuid}`,
      (c) => {
        const withoutResponse =
          !c.properties.includes('write') && c.properties.includes('writeWithoutResponse');
        if (withoutResponse) {
          c.write(data, true);
          return Promise.resolve();
        }
        return callback<void>((done) => c.write(data, false, (error) => done(error)));
      },
      uuid,
    );
  }

  async subscribe(point: BlePoint, onValue: (reading: Reading) => void): Promise<() => Promise<void>> {
    const uuid = normalizeUuid(point.visitor.characteristicUUID);
    const c = this.characteristic(uuid);
    if (!c.properties.includes('notify') && !c.properties.includes('indicate'))
      throw new ProtocolError(`${point.name}: characteristic ${uuid} does not notify`);
    const onData = (data: Buffer, isNotification: boolean) => {
      if (!isNotification) return;
      const reading = decode(point, data, Date.now());
      if (reading instanceof Error)
        this.log.warn({ err: reading, property: point.name }, 'bad ble notification');
      else onValue(reading);
    };
    c.on('data', onData);
    const remove = () => c.off('data', onData);
    this.cleanups.push(remove);
    try {
      await this.request(
        `subscribe ${uuid}`,
        () => callback<void>((done) => c.notify(true, (e) => done(e))),
        uuid,
      );
    } catch (error) {
      remove();
      throw error;
    }
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      remove();
      const stillWanted = c.listeners('data').length > 0;
      if (stillWanted || this.status !== 'online') return;
      await this.request(
        `unsubscribe ${uuid}`,
        () => callback<void>((d) => c.notify(false, (e) => d(e))),
        uuid,
      ).catch((error: unknown) => this.log.debug({ err: error }, 'ble unsubscribe failed'));
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.status = 'closed';
      this.abort.reject(new DeviceUnavailable('the ble connection was closed'));
      await this.release();
    })();
    return this.closing;
  }

  private async nobleInstance(): Promise<Noble> {
    this.noble ??= await nobleFor(await this.factory());
    return this.noble;
  }

  /** Drops the listeners, stops scanning and disconnects the peripheral. */
  private async release(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    const peripheral = this.peripheral;
    this.peripheral = undefined;
    this.characteristics = new Map();
    if (peripheral && (peripheral.state === 'connected' || peripheral.state === 'connecting')) {
      const gone = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.timeoutMs);
        peripheral.once('disconnect', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      peripheral.disconnect();
      await gone;
    }
  }

  private async poweredOn(noble: Noble, abort: Promise<never>): Promise<void> {
    if (noble.state === 'poweredOn') return;
    let onState: ((state: string) => void) | undefined;
    const on = new Promise<void>((resolve) => {
      onState = (state) => {
        if (state === 'poweredOn') resolve();
      };
      noble.on('stateChange', onState);
    });
    try {
      await this.within(on, this.scanTimeoutMs, abort, 'the Bluetooth adapter to power on');
    } finally {
      if (onState) noble.off('stateChange', onState);
    }
  }

  /**
   * Scans until the peripheral advertises. Drivers sharing one adapter share its scan: it stops when the
   * last of them is done. Duplicates are reported so that a scan joined late still sees every advertiser.
   */
  private async scan(noble: Noble, id: string, abort: Promise<never>): Promise<NoblePeripheral> {
    let onDiscover: ((p: NoblePeripheral) => void) | undefined;
    scanners.set(noble, (scanners.get(noble) ?? 0) + 1);
    const found = new Promise<NoblePeripheral>((resolve, reject) => {
      onDiscover = (p) => {
        if (p.id === id || peripheralId(p.address ?? '') === id) resolve(p);
      };
      noble.on('discover', onDiscover);
      noble.startScanning([], true, (error) => {
        if (error) reject(error);
      });
    });
    try {
      return await this.within(found, this.scanTimeoutMs, abort, `scanning for ${id}`);
    } finally {
      if (onDiscover) noble.off('discover', onDiscover);
      const left = (scanners.get(noble) ?? 1) - 1;
      scanners.set(noble, left);
      if (left === 0) noble.stopScanning();
    }
  }

  private characteristic(uuid: string): NobleCharacteristic {
    if (this.status === 'closed' || this.status === 'offline' || !this.peripheral)
      throw new DeviceUnavailable(
        `ble peripheral is ${this.status === 'closed' ? 'closed' : 'not connected'}`,
      );
    const c = this.characteristics.get(uuid);
    if (!c) throw new ProtocolError(`the peripheral has no characteristic ${uuid}`);
    return c;
  }

  /** Runs one GATT request after the ones before it, with the request timeout. */
  private request<T>(what: string, send: (c: NobleCharacteristic) => Promise<T>, uuid: string): Promise<T> {
    const run = async (): Promise<T> => {
      const c = this.characteristic(uuid);
      try {
        const result = await this.within(send(c), this.timeoutMs, this.abort.promise, what);
        this.timeouts = 0;
        if (this.status === 'unhealthy') this.status = 'online';
        return result;
      } catch (error) {
        if (error instanceof ProtocolTimeout) {
          this.timeouts += 1;
          if (this.status === 'online' || this.status === 'unhealthy')
            this.status = stateAfterTimeouts(this.timeouts);
        }
        throw error;
      }
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => {});
    return result;
  }

  /** `promise`, or ProtocolTimeout after `ms`, or the abort's rejection. */
  private async within<T>(promise: Promise<T>, ms: number, abort: Promise<never>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ProtocolTimeout(`no answer in ${ms} ms: ${what}`)), ms);
    });
    try {
      return await Promise.race([promise, timeout, abort]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A promise over a noble callback. */
function callback<T>(
  start: (done: (error: Error | string | null | undefined, result: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start((error, result) => {
      if (error) reject(error instanceof Error ? error : new ProtocolError(String(error)));
      else resolve(result);
    });
  });
}

function decode(point: BlePoint, data: Buffer, timestamp: number): Reading | Error {
  try {
    return { value: decodeProperty(point.property, point.visitor, data), quality: 'good', timestamp };
  } catch (error) {
    return new ProtocolError(`${point.name}: cannot decode ${data.toString('hex')}: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

/** The bytes to write: the dataWrite entry for the value if there is one, else the value encoded. */
function toBytes(point: BlePoint, value: TwinValue): Buffer {
  const { visitor, property } = point;
  const mapped = dataWriteBytes(visitor.dataWrite, String(value));
  if (mapped) return Buffer.from(mapped);
  if (visitor.dataWrite && !visitor.dataConverter)
    throw new ValueOutOfRange(
      `${point.name}: "${value}" is none of the dataWrite values ${Object.keys(visitor.dataWrite).join(', ')}`,
    );
  let typed = value;
  if (typeof value === 'string' && property.type !== 'STRING') {
    const parsed = parseTwinValue(property.type, value);
    if (!parsed.ok) throw new TwinValueError(`${point.name}: ${parsed.reason}`);
    typed = parsed.value;
  }
  const reason = outOfRange(property.type, typed, property);
  if (reason) throw new ValueOutOfRange(`${point.name}: ${reason}`);
  try {
    return encodeProperty(property, visitor, typed);
  } catch (error) {
    if (error instanceof ValueOutOfRange) throw new ValueOutOfRange(`${point.name}: ${error.message}`);
    throw error;
  }
}

/** A promise that only ever rejects, when told to; never an unhandled rejection. */
function rejecter(): { promise: Promise<never>; reject: (error: Error) => void } {
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<never>((_, r) => {
    reject = r;
  });
  promise.catch(() => {});
  return { promise, reject };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new ProtocolError(messageOf(error), { cause: error });
}
