import type { EventEmitter } from 'node:events';
import type {
  Noble,
  NobleCharacteristic,
  NoblePeripheral,
  NobleService,
} from '@abandonware/noble/with-bindings.js';
import type { BleConfig, BleVisitor, TwinValue } from '../../device-models/index.js';
import { type Driver, type DriverContext, type Point, type Reading, readOneOf } from '../../sdk/driver.js';
import { DeviceUnavailable, ProtocolError, ProtocolTimeout, ValueOutOfRange } from '../../sdk/errors.js';
import type { Logger } from '../../sdk/logger.js';
import { abortable, abortReason, type Call, timed, withCall } from '../../sdk/runtime/call.js';
import { dataWriteBytes } from './data-converter.js';
import { decodeProperty, encodeProperty, normalizeUuid, peripheralId } from './encoding.js';

type BlePoint = Point<BleVisitor>;

/** Gives the noble bindings object a driver talks through (an HCI socket, or a simulated radio). */
export type BindingsFactory = () => EventEmitter | Promise<EventEmitter>;

export interface BleDriverOptions {
  /** Default: the platform's real bindings, loaded on first use and shared by every driver. */
  bindings?: BindingsFactory;
  /**
   * How long one GATT request may take, ms; default 2000. The mapper gives it to the runtime, which passes it
   * on every call; the driver itself uses it only where no call does (close, unsubscribe).
   */
  timeoutMs?: number;
}

/** A GATT request's timeout when the options give none, ms. */
export const DEFAULT_TIMEOUT_MS = 2000;

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
 * and writes them (KubeEdge's dataConverter/dataWrite), and subscribes to notifications. Scanning and
 * connecting last as long as the call allows; each GATT request gets the call's timeout. A link the
 * peripheral drops is reported to the runtime (`context.lost`), which reconnects.
 */
export class BleDriver implements Driver<BleConfig, BleVisitor> {
  private readonly log: Logger;
  private readonly factory: BindingsFactory;
  private readonly timeoutMs: number;
  private noble: Noble | undefined;
  private peripheral: NoblePeripheral | undefined;
  private characteristics = new Map<string, NobleCharacteristic>();
  /** Removes the listeners this driver put on the peripheral and characteristics. */
  private cleanups: (() => void)[] = [];
  /** Aborts when the link drops or the driver closes: whatever waits on the link fails at once. */
  private link = new AbortController();

  constructor(
    private readonly context: DriverContext,
    options: BleDriverOptions = {},
  ) {
    this.log = context.log.child({ module: 'mapper:ble' });
    this.factory = options.bindings ?? defaultBindings;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async connect(config: BleConfig, call: Call): Promise<void> {
    const address = config.macAddress;
    // The new link is in place before anything is awaited, so that a close() from now on ends this attempt.
    // While connecting it also ends with the call (its deadline, or the device stopped).
    const link = new AbortController();
    this.closeLink();
    this.link = link;
    const endWithCall = () => link.abort(abortReason(call.signal));
    if (call.signal.aborted) endWithCall();
    else call.signal.addEventListener('abort', endWithCall, { once: true });
    const attempt: Call = { signal: link.signal, timeoutMs: call.timeoutMs };
    let stage = 'loading noble';
    try {
      await this.release();
      const noble = await abortable(this.nobleInstance(), link.signal);
      stage = 'waiting for the Bluetooth adapter to power on';
      await poweredOn(noble, link.signal);
      stage = 'scanning';
      const peripheral = await scan(noble, peripheralId(address), link.signal);
      this.peripheral = peripheral;
      const onDisconnect = (reason: unknown) => {
        if (this.peripheral !== peripheral || link.signal.aborted) return;
        this.log.info({ address, reason }, 'ble peripheral disconnected');
        const lost = new DeviceUnavailable(`ble peripheral ${address} disconnected`);
        link.abort(lost);
        this.context.lost(lost);
      };
      peripheral.on('disconnect', onDisconnect);
      this.cleanups.push(() => peripheral.off('disconnect', onDisconnect));
      stage = 'connecting';
      await abortable(
        callback<void>((done) => peripheral.connect((error) => done(error ?? null))),
        link.signal,
      );
      stage = 'discovering services';
      const services = await timed(
        attempt,
        'discovering services',
        callback<NobleService[]>((done) => peripheral.discoverServices([], done)),
      );
      for (const service of services) {
        const found = await timed(
          attempt,
          'discovering characteristics',
          callback<NobleCharacteristic[]>((done) => service.discoverCharacteristics([], done)),
        );
        for (const c of found) if (!this.characteristics.has(c.uuid)) this.characteristics.set(c.uuid, c);
      }
    } catch (error) {
      await this.release();
      if (error instanceof DeviceUnavailable) throw error;
      throw new DeviceUnavailable(`ble peripheral ${address} unreachable (${stage}): ${messageOf(error)}`, {
        cause: error,
      });
    } finally {
      call.signal.removeEventListener('abort', endWithCall);
    }
    this.log.info({ address, characteristics: this.characteristics.size }, 'ble connected');
  }

  readable(point: BlePoint): boolean {
    const c = this.characteristics.get(normalizeUuid(point.visitor.characteristicUUID));
    return c ? c.properties.includes('read') : true;
  }

  read(point: BlePoint, call: Call): Promise<Reading> {
    return readOneOf(this, point, call);
  }

  /**
   * Reads each characteristic once, however many points it carries. After a timeout or a lost link the rest
   * fail alike: a silent peripheral costs one timeout per cycle, not one per characteristic.
   */
  async readMany(points: BlePoint[], call: Call): Promise<(Reading | Error)[]> {
    const results: (Reading | Error)[] = new Array(points.length);
    const groups = new Map<string, number[]>();
    points.forEach((p, i) => {
      const uuid = normalizeUuid(p.visitor.characteristicUUID);
      groups.set(uuid, [...(groups.get(uuid) ?? []), i]);
    });
    let failed: Error | undefined;
    for (const [uuid, indices] of groups) {
      let data: Buffer;
      try {
        if (failed) throw failed;
        data = await this.request(`read ${uuid}`, uuid, call, (c) => {
          if (!c.properties.includes('read'))
            throw new ProtocolError(`characteristic ${uuid} cannot be read (${c.properties.join(', ')})`);
          return callback<Buffer>((done) => c.read(done));
        });
      } catch (error) {
        for (const i of indices) results[i] = asError(error);
        if (error instanceof ProtocolTimeout || error instanceof DeviceUnavailable) failed = error;
        continue;
      }
      const timestamp = Date.now();
      for (const i of indices) results[i] = decode(points[i]!, data, timestamp);
    }
    return results;
  }

  async write(point: BlePoint, value: TwinValue, call: Call): Promise<void> {
    const data = toBytes(point, value);
    const uuid = normalizeUuid(point.visitor.characteristicUUID);
    await this.request(`write ${uuid}`, uuid, call, (c) => {
      const withoutResponse =
        !c.properties.includes('write') && c.properties.includes('writeWithoutResponse');
      if (withoutResponse) {
        c.write(data, true);
        return Promise.resolve();
      }
      return callback<void>((done) => c.write(data, false, (error) => done(error)));
    });
  }

  async subscribe(
    point: BlePoint,
    onValue: (reading: Reading) => void,
    call: Call,
  ): Promise<() => Promise<void>> {
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
      await this.request(`subscribe ${uuid}`, uuid, call, () =>
        callback<void>((done) => c.notify(true, (e) => done(e))),
      );
    } catch (error) {
      remove();
      throw error;
    }
    const link = this.link;
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      remove();
      if (c.listeners('data').length > 0 || link !== this.link || link.signal.aborted) return;
      await withCall(this.timeoutMs, `unsubscribe ${uuid}`, (unsubscribing) =>
        this.request(`unsubscribe ${uuid}`, uuid, unsubscribing, () =>
          callback<void>((d) => c.notify(false, (e) => d(e))),
        ),
      ).catch((error: unknown) => this.log.debug({ err: error }, 'ble unsubscribe failed'));
    };
  }

  /** Ends the link (what waits on it fails) and disconnects the peripheral; safe to call twice. */
  async close(): Promise<void> {
    this.closeLink();
    await this.release();
  }

  private closeLink(): void {
    if (!this.link.signal.aborted) this.link.abort(new DeviceUnavailable('the ble connection was closed'));
  }

  private async nobleInstance(): Promise<Noble> {
    this.noble ??= await nobleFor(await this.factory());
    return this.noble;
  }

  /** Drops the listeners and disconnects the peripheral. */
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

  private characteristic(uuid: string): NobleCharacteristic {
    if (this.link.signal.aborted) throw abortReason(this.link.signal);
    if (!this.peripheral) throw new DeviceUnavailable('ble peripheral is not connected');
    const c = this.characteristics.get(uuid);
    if (!c) throw new ProtocolError(`the peripheral has no characteristic ${uuid}`);
    return c;
  }

  /** One GATT request: the call's timeout (ProtocolTimeout), and it fails at once if the link drops. */
  private async request<T>(
    what: string,
    uuid: string,
    call: Call,
    send: (c: NobleCharacteristic) => Promise<T>,
  ): Promise<T> {
    const c = this.characteristic(uuid);
    return timed(call, `ble ${what}`, abortable(send(c), this.link.signal));
  }
}

async function poweredOn(noble: Noble, signal: AbortSignal): Promise<void> {
  if (noble.state === 'poweredOn') return;
  let onState: ((state: string) => void) | undefined;
  const on = new Promise<void>((resolve) => {
    onState = (state) => {
      if (state === 'poweredOn') resolve();
    };
    noble.on('stateChange', onState);
  });
  try {
    await abortable(on, signal);
  } finally {
    if (onState) noble.off('stateChange', onState);
  }
}

/**
 * Scans until the peripheral advertises. Drivers sharing one adapter share its scan: it stops when the
 * last of them is done. Duplicates are reported so that a scan joined late still sees every advertiser.
 */
async function scan(noble: Noble, id: string, signal: AbortSignal): Promise<NoblePeripheral> {
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
    return await abortable(found, signal);
  } finally {
    if (onDiscover) noble.off('discover', onDiscover);
    const left = (scanners.get(noble) ?? 1) - 1;
    scanners.set(noble, left);
    if (left === 0) noble.stopScanning();
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

/**
 * The bytes to write: the dataWrite entry for the value if there is one, else the value encoded. The model's
 * range is the runtime's to check; what the bytes cannot hold (a value beyond an int16) is refused here.
 */
function toBytes(point: BlePoint, value: TwinValue): Buffer {
  const { visitor, property } = point;
  if (visitor.dataWrite && !visitor.dataConverter && !dataWriteBytes(visitor.dataWrite, String(value)))
    throw new ValueOutOfRange(
      `${point.name}: "${value}" is none of the dataWrite values ${Object.keys(visitor.dataWrite).join(', ')}`,
    );
  try {
    return encodeProperty(property, visitor, value);
  } catch (error) {
    if (error instanceof ValueOutOfRange) throw new ValueOutOfRange(`${point.name}: ${error.message}`);
    throw error;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new ProtocolError(messageOf(error), { cause: error });
}
