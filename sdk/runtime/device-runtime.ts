import { EventEmitter } from 'node:events';
import type { DeviceState, ResolvedDevice, ResolvedProperty, TwinValue } from '../../device-models/index.js';
import { parseTwinValue, TwinValueError } from '../../device-models/index.js';
import { toTwin } from '../codecs/index.js';
import type { Driver, Point, ProtocolMapper, Reading } from '../driver.js';
import { type Logger, silentLogger } from '../logger.js';
import { createPusher, type Pusher } from '../push/index.js';
import { type BackoffOptions, backoffDelay } from './backoff.js';
import type { DeviceBus, ReportedValue } from './device-bus.js';
import { Timers } from './timers.js';

export interface DeviceRuntimeOptions {
  device: ResolvedDevice;
  mapper: ProtocolMapper;
  bus: DeviceBus;
  log?: Logger;
  backoff?: BackoffOptions;
  /** Source of randomness for backoff jitter (tests pass a fixed one). */
  random?: () => number;
  /** How long one connect attempt may take, ms (default 10 000). */
  connectTimeoutMs?: number;
  /** Write the Device's `desired` values on the first connect (a mapper running without a twin). */
  applySpecDesired?: boolean;
}

/** The runtime's own view: `connecting` is internal; the others are what `state/update` carries. */
export type RuntimeState = 'connecting' | Extract<DeviceState, 'online' | 'offline' | 'unhealthy'>;

interface Latest {
  reading: Reading;
  property: ResolvedProperty;
}

/**
 * Runs one device: connects its driver (reconnecting with capped exponential backoff and jitter), reads
 * each property every `collectCycle` (batched when the driver can), reports `actual` values every
 * `reportCycle` for properties with `reportToCloud`, pushes values to each property's `pushMethod`,
 * publishes the device state, and writes desired values from `twin/update/delta` through the driver, then
 * reads them back and reports them. A failing device never throws out of here.
 *
 * Events: `state` (RuntimeState), `reading` (name, Reading), `readFailed` (name, Error), `written` (name,
 * TwinValue), `writeFailed` (name, Error). `error` is never emitted (errors are logged), so no listener is required.
 */
export class DeviceRuntime extends EventEmitter {
  readonly id: string;
  private readonly log: Logger;
  private readonly lifecycle = new Timers();
  private session?: Timers;
  private driver?: Driver<unknown, unknown>;
  private attempt = 0;
  private current: RuntimeState = 'offline';
  private started = false;
  private stopped = false;
  private readonly latest = new Map<string, Latest>();
  private readonly pendingWrites = new Map<string, { value: TwinValue; text: string }>();
  /** Desired values written and confirmed, so a delta repeating them does not write again (a tare stays one tare). */
  private readonly applied = new Map<string, { value: TwinValue; text: string }>();
  private writing = false;
  private readonly cleanups: (() => Promise<void>)[] = [];
  private sessionCleanups: (() => Promise<void>)[] = [];
  private readonly pushers = new Map<string, Pusher>();
  private connecting?: Promise<void>;

  constructor(private readonly options: DeviceRuntimeOptions) {
    super();
    this.id = options.device.id;
    this.log = (options.log ?? silentLogger).child({ device: this.id });
    if (options.applySpecDesired)
      for (const property of options.device.properties)
        if (property.desired !== undefined) this.queueDesired(property.name, property.desired);
  }

  get state(): RuntimeState {
    return this.current;
  }

  /** The latest reading of each property. */
  readings(): ReadonlyMap<string, Reading> {
    return new Map([...this.latest].map(([name, l]) => [name, l.reading]));
  }

  /** Subscribes to desired values and starts connecting; resolves without waiting for the device. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { device, bus } = this.options;
    this.cleanups.push(await bus.onDelta(device.id, (_id, message) => this.onDelta(message.delta ?? {})));
    if (device.stateReport.reportToCloud)
      this.lifecycle.every(device.stateReport.reportCycle, () => this.publishState());
    this.connecting = this.connect();
  }

  /** Stops every timer, subscription and connection; safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.lifecycle.stop();
    await this.connecting;
    await this.endSession();
    for (const cleanup of this.cleanups.splice(0)) await cleanup().catch(() => {});
    await Promise.all([...this.pushers.values()].map((p) => p.close()));
    this.pushers.clear();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.setState('connecting');
    const driver = this.options.mapper.createDriver({ log: this.log }) as Driver<unknown, unknown>;
    try {
      await withTimeout(driver.connect(this.options.device.config), this.options.connectTimeoutMs ?? 10_000);
    } catch (error) {
      await driver.close().catch(() => {});
      this.retryLater(error);
      return;
    }
    if (this.stopped) {
      await driver.close().catch(() => {});
      return;
    }
    this.driver = driver;
    this.attempt = 0;
    this.log.info('connected');
    this.setState('online');
    await this.startSession(driver);
  }

  private retryLater(error: unknown): void {
    this.setState('offline');
    const delay = backoffDelay(this.attempt++, this.options.backoff, this.options.random);
    this.log.warn({ err: message(error), retryInMs: delay }, 'device unreachable');
    this.lifecycle.after(delay, () => {
      this.connecting = this.connect();
    });
  }

  private async startSession(driver: Driver<unknown, unknown>): Promise<void> {
    const session = new Timers();
    this.session = session;
    const points = this.options.device.properties.map((property) => ({ property, point: pointOf(property) }));
    const readable = points.filter(({ point }) => driver.readable?.(point) ?? true);
    const subscribed: typeof readable = [];
    for (const entry of driver.subscribe ? readable.filter(({ point }) => wantsPush(point.visitor)) : []) {
      try {
        const unsubscribe = await driver.subscribe!(entry.point, (reading) =>
          this.onReading(entry.property, reading),
        );
        this.sessionCleanups.push(unsubscribe);
        subscribed.push(entry);
      } catch (error) {
        this.log.warn(
          { property: entry.property.name, err: message(error) },
          'subscribe failed; polling instead',
        );
      }
    }
    const polled = readable.filter((p) => !subscribed.includes(p));
    for (const [cycle, group] of groupBy(polled, (p) => p.property.collectCycle))
      session.every(cycle, () => this.collect(driver, group), { immediate: true });
    const reported = this.options.device.properties.filter((p) => p.reportToCloud);
    for (const [cycle, group] of groupBy(reported, (p) => p.reportCycle))
      session.every(cycle, () => this.report(group.map((p) => p.name)));
    void this.drainWrites();
  }

  private async endSession(): Promise<void> {
    this.session?.stop();
    this.session = undefined;
    for (const cleanup of this.sessionCleanups.splice(0)) await cleanup().catch(() => {});
    const driver = this.driver;
    this.driver = undefined;
    await driver?.close().catch(() => {});
  }

  /** The connection is gone: close it and reconnect with backoff. */
  private async dropConnection(reason: unknown): Promise<void> {
    if (!this.driver || this.stopped) return;
    await this.endSession();
    if (!this.stopped) this.retryLater(reason);
  }

  private async collect(
    driver: Driver<unknown, unknown>,
    group: { property: ResolvedProperty; point: Point<unknown> }[],
  ): Promise<void> {
    const points = group.map((g) => g.point);
    let results: (Reading | Error)[];
    try {
      results = driver.readMany
        ? await driver.readMany(points)
        : await sequential(points, (p) => driver.read(p).catch((e: unknown) => asError(e)));
    } catch (error) {
      results = points.map(() => asError(error));
    }
    if (driver !== this.driver) return;
    let failures = 0;
    results.forEach((result, i) => {
      const property = group[i]!.property;
      if (result instanceof Error) {
        failures++;
        this.emit('readFailed', property.name, result);
        this.log.debug({ property: property.name, err: result.message }, 'read failed');
      } else this.onReading(property, result);
    });
    if (driver.state() === 'offline') await this.dropConnection(results.find((r) => r instanceof Error));
    else if (failures === results.length && failures > 0) this.setState('unhealthy');
    else this.setState('online');
  }

  private onReading(property: ResolvedProperty, reading: Reading): void {
    this.latest.set(property.name, { reading, property });
    const applied = this.applied.get(property.name);
    if (applied && !sameValue(applied.value, reading.value)) this.applied.delete(property.name);
    this.emit('reading', property.name, reading);
    if (property.pushMethod) this.pusherFor(property)?.push(this.sample(property, reading));
  }

  private sample(property: ResolvedProperty, reading: Reading) {
    const { device } = this.options;
    return {
      namespace: device.namespace,
      deviceName: device.name,
      propertyName: property.name,
      value: toTwin(property.model, reading.value),
      type: property.model.type.toLowerCase(),
      timestamp: reading.timestamp,
    };
  }

  private pusherFor(property: ResolvedProperty): Pusher | undefined {
    let pusher = this.pushers.get(property.name);
    if (!pusher && property.pushMethod) {
      pusher = createPusher(property.pushMethod, this.log);
      if (pusher) this.pushers.set(property.name, pusher);
    }
    return pusher;
  }

  private async report(names: string[]): Promise<void> {
    const values: Record<string, ReportedValue> = {};
    for (const name of names) {
      const latest = this.latest.get(name);
      if (latest) values[name] = this.reported(latest.property, latest.reading.value);
    }
    if (Object.keys(values).length === 0) return;
    await this.options.bus.reportActual(this.id, values).catch((error: unknown) => {
      this.log.warn({ err: message(error) }, 'twin report failed');
    });
  }

  private reported(property: ResolvedProperty, value: TwinValue): ReportedValue {
    return { value: toTwin(property.model, value), type: property.model.type.toLowerCase() };
  }

  private onDelta(delta: Record<string, string>): void {
    for (const [name, value] of Object.entries(delta)) this.queueDesired(name, value);
    void this.drainWrites();
  }

  private queueDesired(name: string, text: string): void {
    const property = this.options.device.properties.find((p) => p.name === name);
    if (!property) {
      this.log.warn({ property: name }, 'desired value for a property this device does not have; ignored');
      return;
    }
    if (property.model.accessMode === 'ReadOnly') {
      this.log.warn({ property: name }, 'desired value for a ReadOnly property; ignored');
      return;
    }
    const parsed = parseTwinValue(property.model.type, text);
    if (!parsed.ok) {
      this.log.warn(
        { property: name, err: new TwinValueError(parsed.reason).message },
        'bad desired value; ignored',
      );
      return;
    }
    const applied = this.applied.get(name);
    if (applied && sameValue(applied.value, parsed.value)) return;
    this.pendingWrites.set(name, { value: parsed.value, text });
  }

  /** Writes pending desired values one at a time, newest value per property; keeps them while offline. */
  private async drainWrites(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      for (;;) {
        const driver = this.driver;
        const next = this.pendingWrites.entries().next();
        if (!driver || next.done || this.stopped) return;
        const [name, desired] = next.value;
        const { value } = desired;
        this.pendingWrites.delete(name);
        const property = this.options.device.properties.find((p) => p.name === name)!;
        const point = pointOf(property);
        try {
          await driver.write(point, value);
          this.log.info({ property: name, value }, 'desired value written');
          this.applied.set(name, desired);
          this.emit('written', name, value);
          const reading = (driver.readable?.(point) ?? true) ? await driver.read(point) : undefined;
          const reported = reading ?? { value, quality: 'good' as const, timestamp: Date.now() };
          this.onReading(property, reported);
          // Always confirmed to the twin (reportToCloud is about the cloud), in the desired spelling when the
          // device holds that value, so that the delta clears.
          const text = sameValue(reported.value, value)
            ? desired.text
            : this.reported(property, reported.value).value;
          await this.options.bus.reportActual(this.id, {
            [name]: { value: text, type: property.model.type.toLowerCase() },
          });
        } catch (error) {
          this.log.warn({ property: name, err: message(error) }, 'desired value not written');
          this.emit('writeFailed', name, asError(error));
          if (driver.state() === 'offline') {
            if (!this.pendingWrites.has(name)) this.pendingWrites.set(name, desired);
            await this.dropConnection(error);
            return;
          }
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private setState(state: RuntimeState): void {
    if (state === this.current) return;
    this.current = state;
    this.emit('state', state);
    if (state !== 'connecting') void this.publishState();
  }

  private async publishState(): Promise<void> {
    if (this.current === 'connecting') return;
    await this.options.bus.publishState(this.id, this.current).catch((error: unknown) => {
      this.log.warn({ err: message(error) }, 'state report failed');
    });
  }
}

function pointOf(property: ResolvedProperty): Point<unknown> {
  return {
    name: property.name,
    visitor: property.visitor,
    property: property.model,
    collectCycle: property.collectCycle,
  };
}

/** A visitor asks for push updates (OPC UA `subscribe`, BLE `notify`) instead of polling. */
function wantsPush(visitor: unknown): boolean {
  const v = visitor as { subscribe?: unknown; notify?: unknown };
  return v.subscribe === true || v.notify === true;
}

/** Equal twin values; numbers to float32 precision (a register may not hold every decimal exactly). */
function sameValue(a: TwinValue, b: TwinValue): boolean {
  if (typeof a === 'number' && typeof b === 'number')
    return Math.abs(a - b) <= Math.max(1e-9, Math.abs(b) * 1e-6);
  return a === b;
}

function groupBy<T>(items: readonly T[], key: (item: T) => number): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
}

async function sequential<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const item of items) out.push(await fn(item));
  return out;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`connect timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
