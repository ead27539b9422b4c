import { EventEmitter } from 'node:events';
import {
  type DeviceState,
  type MsgTwin,
  parseTwinValue,
  type ResolvedDevice,
  type ResolvedProperty,
  type TwinValue,
} from '../../device-models/index.js';
import { setOwn } from '../../device-models/set-own.js';
import { toTwin } from '../codecs/index.js';
import type { Driver, Point, ProtocolMapper, Reading } from '../driver.js';
import { DeviceUnavailable, ProtocolTimeout } from '../errors.js';
import { type Logger, silentLogger } from '../logger.js';
import { createPusher, type Pusher } from '../push/index.js';
import { type BackoffOptions, backoffDelay } from './backoff.js';
import { Abort, type Call, withCall } from './call.js';
import { type ConnectionPool, sharedConnections } from './connection-pool.js';
import { DesiredWriter } from './desired-writer.js';
import type { DeviceBus, ReportedValue } from './device-bus.js';
import { type LastReport, shouldReport } from './report-filter.js';
import { SerialQueue } from './serial-queue.js';
import { type CycleOutcome, cycleOutcome, errorOutcome, OFFLINE_AFTER_TIMEOUTS } from './state-policy.js';
import { type CycleClock, spreadOf, Timers } from './timers.js';

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
  /** Where shared connections come from (default: the process-wide pool). */
  connections?: ConnectionPool;
  /** Attempts per desired value before giving up (default 5). */
  maxWriteAttempts?: number;
  /**
   * Which of the clock's slots in each period this device's cycles run in, a fraction in [0, 1) (default:
   * `spreadOf(device.id)`; the clock has 4 slots per period unless made with another number).
   */
  spread?: number;
  /** What drives the device's cycles (default: the process's clock, shared by every device in it). */
  cycles?: CycleClock;
}

/** The runtime's own view: `connecting` is internal; the others are what `state/update` carries. */
export type RuntimeState = 'connecting' | Extract<DeviceState, 'online' | 'offline' | 'unhealthy'>;

/** How much longer than one request a whole driver call may take before the runtime gives up on it. */
const CALL_DEADLINE_FACTOR = 4;
const DEFAULT_TIMEOUT_MS = 5000;

interface Latest {
  /**
   * The runtime's own record, written over by each reading: kept for a whole cycle, a new object per reading
   * would outlive V8's young generation and be freed only by a full collection.
   */
  reading: Reading;
  property: ResolvedProperty;
}

type Entry = { property: ResolvedProperty; point: Point<unknown> };

/**
 * Runs one device and owns its plumbing: one request queue, a deadline and an AbortSignal on every driver
 * call, the device state derived from the errors the driver throws (sdk/runtime/state-policy.ts), reconnects
 * with capped exponential backoff and jitter, collect cycles (batched when the driver can), reports by each
 * property's strategy, push methods, and desired values written once per intent (desired-writer.ts).
 * A failing device never throws out of here.
 *
 * Events: `state` (RuntimeState), `reading` (name, Reading), `readFailed` (name, Error), `written` (name,
 * TwinValue), `writeFailed` (name, Error), `reported` (Record<name, ReportedValue>). `error` is never emitted
 * (errors are logged), so no listener is required.
 */
export class DeviceRuntime extends EventEmitter {
  readonly id: string;
  private readonly log: Logger;
  private readonly lifecycle: Timers;
  private readonly stopping = new Abort();
  private readonly queue = new SerialQueue();
  private readonly timeoutMs: number;
  /** Each device keeps its own place in the period, so that devices on one line do not all ask at once. */
  private readonly spread: number;
  private session?: Timers;
  private driver?: Driver<unknown, unknown>;
  private attempt = 0;
  /** Consecutive cycles in which every request timed out. */
  private timeouts = 0;
  private current: RuntimeState = 'offline';
  private started = false;
  private stopped = false;
  private readonly latest = new Map<string, Latest>();
  private readonly lastReports = new Map<string, LastReport>();
  /** Why a property does not hold its desired value, while it still holds what it held after the write. */
  private readonly reasons = new Map<string, { held: TwinValue; reason: string }>();
  private readonly writer: DesiredWriter;
  private readonly cleanups: (() => Promise<void>)[] = [];
  private sessionCleanups: (() => Promise<void>)[] = [];
  private readonly pushers = new Map<string, Pusher>();
  private connecting?: Promise<void>;

  constructor(private readonly options: DeviceRuntimeOptions) {
    super();
    this.id = options.device.id;
    this.log = (options.log ?? silentLogger).child({ device: this.id });
    this.timeoutMs = options.mapper.timeoutMs?.(options.device.config as never) ?? DEFAULT_TIMEOUT_MS;
    this.spread = options.spread ?? spreadOf(this.id);
    this.lifecycle = new Timers(options.cycles);
    this.writer = new DesiredWriter({
      device: options.device,
      log: this.log,
      timers: this.lifecycle,
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.random ? { random: options.random } : {}),
      ...(options.maxWriteAttempts ? { maxAttempts: options.maxWriteAttempts } : {}),
      apply: (property, value) => this.applyDesired(property, value),
      confirm: (property, intent, held) => this.confirmDesired(property, intent, held),
      failed: (property, error, final) => {
        this.log.warn({ property: property.name, err: error.message, final }, 'desired value not written');
        this.emit('writeFailed', property.name, error);
      },
      connected: () => this.driver !== undefined && !this.stopped,
    });
    if (options.applySpecDesired) this.writer.offerSpec();
  }

  get state(): RuntimeState {
    return this.current;
  }

  /** The latest reading of each property. */
  readings(): ReadonlyMap<string, Reading> {
    return new Map([...this.latest].map(([name, l]) => [name, { ...l.reading }]));
  }

  /** Subscribes to desired values and starts connecting; resolves without waiting for the device. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { device, bus } = this.options;
    this.cleanups.push(
      await bus.onDelta(device.id, (_id, message) => {
        this.writer.offer(message.delta ?? {}, message.twin ?? {});
        void this.writer.drain();
      }),
    );
    if (device.stateReport.reportToCloud)
      this.lifecycle.every(device.stateReport.reportCycle, () => this.publishState(), {
        spread: this.spread,
      });
    this.connecting = this.connect();
  }

  /** Stops every timer, subscription and connection; safe to call twice. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopping.abort(new DeviceUnavailable(`${this.id} stopped`));
    this.lifecycle.stop();
    await this.connecting;
    await this.endSession();
    for (const cleanup of this.cleanups.splice(0)) await cleanup().catch(() => {});
    await Promise.all([...this.pushers.values()].map((p) => p.close()));
    this.pushers.clear();
  }

  /** Runs one driver call on the device's queue, with a deadline; the answer's kind sets the state. */
  private call<T>(what: string, work: (call: Call) => Promise<T>): Promise<T> {
    const ms = this.timeoutMs * CALL_DEADLINE_FACTOR;
    return this.queue.run(
      () => withCall(ms, `${this.id}: ${what}`, work, this.stopping, this.timeoutMs),
      this.stopping,
    );
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    if (this.current !== 'offline' || this.timeouts < OFFLINE_AFTER_TIMEOUTS) this.setState('connecting');
    let lostBeforeReady: Error | undefined;
    const driver = this.options.mapper.createDriver({
      log: this.log,
      connections: this.options.connections ?? sharedConnections,
      lost: (reason) => {
        if (this.driver === driver) void this.dropConnection(reason);
        else lostBeforeReady ??= reason;
      },
    }) as Driver<unknown, unknown>;
    const connectMs = Math.max(this.options.connectTimeoutMs ?? 10_000, this.timeoutMs);
    try {
      await this.queue.run(
        () =>
          withCall(
            connectMs,
            `${this.id}: connect`,
            (call) => driver.connect(this.options.device.config, call),
            this.stopping,
            this.timeoutMs,
          ),
        this.stopping,
      );
      if (lostBeforeReady) throw lostBeforeReady;
    } catch (error) {
      await driver.close().catch(() => {});
      if (!this.stopped) this.retryLater(error);
      return;
    }
    if (this.stopped) {
      await driver.close().catch(() => {});
      return;
    }
    this.driver = driver;
    this.log.info('connected');
    // After timeouts the device stays offline until it answers: a slave that is gone costs its line one
    // timeout per backoff period, not one per cycle.
    if (this.timeouts < OFFLINE_AFTER_TIMEOUTS) {
      this.attempt = 0;
      this.setState('online');
    }
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
    const session = new Timers(this.options.cycles);
    this.session = session;
    const entries: Entry[] = this.options.device.properties.map((property) => ({
      property,
      point: pointOf(property),
    }));
    const readable = entries.filter(({ point }) => driver.readable?.(point) ?? true);
    const subscribed: Entry[] = [];
    for (const entry of driver.subscribe ? readable.filter(({ point }) => wantsPush(point.visitor)) : []) {
      try {
        const unsubscribe = await this.call(`subscribe ${entry.property.name}`, (call) =>
          driver.subscribe!(entry.point, (reading) => this.onReading(entry.property, reading), call),
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
    if (this.session !== session) return;
    const polled = readable.filter((p) => !subscribed.includes(p));
    const reports = groupBy(
      this.options.device.properties.filter((p) => p.reportToCloud),
      (p) => p.reportCycle,
    );
    for (const [cycle, group] of groupBy(polled, (p) => p.property.collectCycle)) {
      // The same points every cycle: a driver may keep what it planned for them (keyed by the array).
      const points = group.map((g) => g.point);
      // A report as often as this read follows it, as KubeEdge's mappers read and report in one step: it
      // carries what was just read rather than the last cycle's values, and costs no timer of its own.
      const then = reports.get(cycle);
      reports.delete(cycle);
      session.every(cycle, () => this.collect(driver, group, points, then), {
        immediate: true,
        spread: this.spread,
        ...(driver.sharedLine === undefined ? {} : { line: driver.sharedLine }),
      });
    }
    for (const [cycle, group] of reports)
      session.every(cycle, () => this.report(group), { spread: this.spread });
    void this.catchUpDesired(session);
  }

  /** Desired values set while this runtime was not listening: asked for once per connection. */
  private async catchUpDesired(session: Timers): Promise<void> {
    const { bus } = this.options;
    if (bus.getTwins && !this.options.applySpecDesired) {
      const twins = await bus.getTwins(this.id).catch((error: unknown) => {
        this.log.debug({ err: message(error) }, 'twin/get failed; waiting for deltas');
        return undefined;
      });
      if (twins && this.session === session)
        this.writer.offer(pendingDelta(this.options.device, twins), twins);
    }
    await this.writer.drain();
  }

  private async endSession(): Promise<void> {
    this.session?.stop();
    this.session = undefined;
    for (const cleanup of this.sessionCleanups.splice(0)) await cleanup().catch(() => {});
    const driver = this.driver;
    this.driver = undefined;
    await driver?.close().catch(() => {});
  }

  /** The connection is gone, or the device stopped answering: close it and reconnect with backoff. */
  private async dropConnection(reason: unknown): Promise<void> {
    const driver = this.driver;
    if (!driver || this.stopped) return;
    this.driver = undefined;
    this.setState('offline');
    this.session?.stop();
    this.session = undefined;
    for (const cleanup of this.sessionCleanups.splice(0)) await cleanup().catch(() => {});
    await driver.close().catch(() => {});
    if (!this.stopped) this.retryLater(reason);
  }

  /** One read of `points`; then, when given, the report of `then` (the properties reported as often). */
  private async collect(
    driver: Driver<unknown, unknown>,
    group: Entry[],
    points: Point<unknown>[],
    then?: ResolvedProperty[],
  ): Promise<void> {
    let results: (Reading | Error)[];
    try {
      results = await this.call('read', (call) =>
        driver.readMany ? driver.readMany(points, call) : readEach(driver, points, call),
      );
    } catch (error) {
      results = points.map(() => asError(error));
    }
    if (driver !== this.driver) return;
    results.forEach((result, i) => {
      const property = group[i]!.property;
      if (result instanceof Error) {
        this.emit('readFailed', property.name, result);
        this.log.debug({ property: property.name, err: result.message }, 'read failed');
      } else this.onReading(property, result);
    });
    await this.settle(
      cycleOutcome(results),
      results.find((r) => r instanceof Error),
    );
    if (then && driver === this.driver) await this.report(then);
  }

  /** The one state policy: what a cycle's (or a write's) outcome does to the device state. */
  private async settle(outcome: CycleOutcome, error?: unknown): Promise<void> {
    if (outcome === 'ok') {
      this.timeouts = 0;
      this.attempt = 0;
      this.setState('online');
      return;
    }
    if (outcome === 'error') {
      this.timeouts = 0;
      this.setState('unhealthy');
      return;
    }
    if (outcome === 'timeout') {
      this.timeouts++;
      if (this.timeouts < OFFLINE_AFTER_TIMEOUTS) {
        this.setState('unhealthy');
        return;
      }
    }
    await this.dropConnection(error);
  }

  private onReading(property: ResolvedProperty, reading: Reading): void {
    const latest = this.latest.get(property.name);
    if (latest) {
      latest.reading.value = reading.value;
      latest.reading.quality = reading.quality;
      latest.reading.timestamp = reading.timestamp;
    } else this.latest.set(property.name, { reading: { ...reading }, property });
    const reason = this.reasons.get(property.name);
    if (reason && !sameValue(reason.held, reading.value)) this.reasons.delete(property.name);
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

  /** One report tick: the latest value of each property whose strategy says so. */
  private async report(group: ResolvedProperty[]): Promise<void> {
    const now = Date.now();
    const values: Record<string, ReportedValue> = {};
    for (const property of group) {
      const latest = this.latest.get(property.name);
      if (!latest) continue;
      const value = latest.reading.value;
      if (!shouldReport(property.report, this.lastReports.get(property.name), value, now)) continue;
      setOwn(values, property.name, this.reported(property, value, this.reasons.get(property.name)?.reason));
    }
    await this.publishReport(values, now);
  }

  private async publishReport(values: Record<string, ReportedValue>, now: number): Promise<void> {
    let any = false;
    for (const name in values) {
      any = true;
      const latest = this.latest.get(name);
      if (!latest) continue;
      // Kept in place: every property of every device reports every cycle.
      const last = this.lastReports.get(name);
      if (last) {
        last.value = latest.reading.value;
        last.at = now;
      } else this.lastReports.set(name, { value: latest.reading.value, at: now });
    }
    if (!any) return;
    this.emit('reported', values);
    await this.options.bus.reportActual(this.id, values).catch((error: unknown) => {
      this.log.warn({ err: message(error) }, 'twin report failed');
    });
  }

  private reported(property: ResolvedProperty, value: TwinValue, reason?: string): ReportedValue {
    return {
      value: toTwin(property.model, value),
      type: property.model.type.toLowerCase(),
      ...(reason ? { reason } : {}),
    };
  }

  /** Writes a desired value and reads it back, on the device's queue; what the device holds, if readable. */
  private async applyDesired(property: ResolvedProperty, value: TwinValue): Promise<TwinValue | undefined> {
    const driver = this.driver;
    if (!driver) throw new DeviceUnavailable(`${this.id} is not connected`);
    const point = pointOf(property);
    try {
      await this.call(`write ${property.name}`, (call) => driver.write(point, value, call));
      this.emit('written', property.name, value);
      if (!(driver.readable?.(point) ?? true)) return undefined;
      const reading = await this.call(`read back ${property.name}`, (call) => driver.read(point, call));
      return reading.value;
    } catch (error) {
      const outcome = errorOutcome(error);
      if (outcome === 'unavailable' && this.driver === driver) await this.dropConnection(error);
      throw error;
    }
  }

  /**
   * Confirms a written value to the twin (whatever reportToCloud says: the delta is about it). When the device
   * holds the desired value it is reported in the desired spelling, so the delta clears; otherwise what the
   * device holds is reported with the reason, and the delta stays visible.
   */
  private async confirmDesired(
    property: ResolvedProperty,
    intent: { text: string; value: TwinValue },
    held: TwinValue | undefined,
  ): Promise<void> {
    const holds = held === undefined || sameValue(held, intent.value);
    const reason = holds
      ? undefined
      : `the device holds ${this.reported(property, held).value}, not the desired ${intent.text} (written once; the register cannot hold it exactly or the device changed it)`;
    const value = holds ? intent.value : held;
    if (reason) this.reasons.set(property.name, { held: value, reason });
    else this.reasons.delete(property.name);
    this.onReading(property, { value, quality: 'good', timestamp: Date.now() });
    const reported = holds
      ? { value: intent.text, type: property.model.type.toLowerCase() }
      : this.reported(property, value, reason);
    await this.publishReport({ [property.name]: reported }, Date.now());
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

/** The desired values of `twins` that the device does not hold yet, by the property's type. */
function pendingDelta(device: ResolvedDevice, twins: Record<string, MsgTwin | null>): Record<string, string> {
  const delta: Record<string, string> = {};
  for (const property of device.properties) {
    const twin = twins[property.name];
    const expected = twin?.expected?.value;
    if (expected == null) continue;
    const actual = twin?.actual?.value;
    const a = parseTwinValue(property.model.type, expected);
    const b = actual == null ? undefined : parseTwinValue(property.model.type, actual);
    if (!b || !a.ok || !b.ok || !sameValue(a.value, b.value)) delta[property.name] = expected;
  }
  return delta;
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

/** Reads points one by one; after a timeout or a lost connection the rest fail alike, unsent. */
async function readEach(
  driver: Driver<unknown, unknown>,
  points: readonly Point<unknown>[],
  call: Call,
): Promise<(Reading | Error)[]> {
  const out: (Reading | Error)[] = [];
  let stop: Error | undefined;
  for (const point of points) {
    const result = stop ?? (await driver.read(point, call).catch((e: unknown) => asError(e)));
    if (result instanceof ProtocolTimeout || result instanceof DeviceUnavailable) stop = result;
    out.push(result);
  }
  return out;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
