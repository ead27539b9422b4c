import type {
  DeviceState,
  ModelProperty,
  MsgTwin,
  ReportStrategy,
  ResolvedDevice,
  TwinValue,
} from '../../../device-models/index.js';
import type { Driver, Point, ProtocolMapper, Reading } from '../../driver.js';
import { DeviceUnavailable, ProtocolError } from '../../errors.js';
import { resolvedDevice } from '../../testing/resolved-device.js';
import { type Call, timed } from '../call.js';
import type { DeviceBus, ReportedValue } from '../device-bus.js';

/** How the scripted device behaves right now. */
export type Behaviour = 'answer' | 'silent' | 'unplugged' | 'error';

/**
 * A device for protocol-neutral runtime tests: a map of values, a behaviour a test switches, and a record of
 * every call. Writes go through `holds` (e.g. a register that keeps one decimal).
 */
export class ScriptedDevice {
  behaviour: Behaviour = 'answer';
  readonly values = new Map<string, TwinValue>();
  readonly writes: { name: string; value: TwinValue }[] = [];
  reads = 0;
  connects = 0;
  /** How long an answer takes, ms (0: at once), as a device on a line does. */
  answerAfterMs = 0;
  /** The line it shares with other devices (Driver.sharedLine), if any. */
  sharedLine: string | undefined;
  /** Per-property write failures to throw before writes succeed. */
  writeFailures = 0;
  holds: (name: string, value: TwinValue) => TwinValue = (_name, value) => value;

  mapper(): ProtocolMapper {
    return {
      schemas: { name: 'scripted' } as never,
      timeoutMs: () => 100,
      createDriver: () => new ScriptedDriver(this),
    };
  }
}

class ScriptedDriver implements Driver<unknown, unknown> {
  private closed = false;

  constructor(private readonly device: ScriptedDevice) {}

  get sharedLine(): string | undefined {
    return this.device.sharedLine;
  }

  /** Opening the connection fails only when unplugged: a silent device sits on a line that opens. */
  async connect(): Promise<void> {
    this.device.connects++;
    if (this.device.behaviour === 'unplugged') throw new DeviceUnavailable('connect: no connection');
  }

  async read(point: Point<unknown>, call: Call): Promise<Reading> {
    this.device.reads++;
    await this.answer(call, `read ${point.name}`);
    const value = this.device.values.get(point.name);
    if (value === undefined) throw new ProtocolError(`${point.name}: no such value`);
    return { value, quality: 'good', timestamp: Date.now() };
  }

  async write(point: Point<unknown>, value: TwinValue, call: Call): Promise<void> {
    await this.answer(call, `write ${point.name}`);
    if (this.device.writeFailures > 0) {
      this.device.writeFailures--;
      throw new ProtocolError(`${point.name}: write refused by the device`);
    }
    this.device.writes.push({ name: point.name, value });
    this.device.values.set(point.name, this.device.holds(point.name, value));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Resolves, or fails the way the device's behaviour says (a silent device at the call's timeout). */
  private answer(call: Call, what: string): Promise<void> {
    if (this.closed) return Promise.reject(new DeviceUnavailable('closed'));
    switch (this.device.behaviour) {
      case 'silent':
        return timed(call, what, new Promise<void>(() => {}));
      case 'unplugged':
        return Promise.reject(new DeviceUnavailable(`${what}: no connection`));
      case 'error':
        return Promise.reject(new ProtocolError(`${what}: exception`));
      default: {
        const ms = this.device.answerAfterMs;
        return ms > 0 ? new Promise<void>((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
      }
    }
  }
}

/** A DeviceBus that records what the runtime publishes and lets a test send deltas. */
export class RecordingBus implements DeviceBus {
  readonly reports: Record<string, ReportedValue>[] = [];
  readonly states: DeviceState[] = [];
  twins: Record<string, MsgTwin | null> | undefined;
  private handler?: (
    id: string,
    message: { delta?: Record<string, string>; twin?: Record<string, MsgTwin | null> },
  ) => void | Promise<void>;

  async reportActual(_id: string, values: Record<string, ReportedValue>): Promise<void> {
    this.reports.push(values);
  }

  async publishState(_id: string, state: DeviceState): Promise<void> {
    this.states.push(state);
  }

  async onDelta(_id: string, handler: NonNullable<RecordingBus['handler']>): Promise<() => Promise<void>> {
    this.handler = handler;
    return async () => {
      this.handler = undefined;
    };
  }

  async getTwins(): Promise<Record<string, MsgTwin | null> | undefined> {
    return this.twins;
  }

  /** Sends `…/twin/update/delta` for `values`, each with desired version `edge`. */
  delta(values: Record<string, string>, edge = 1): void {
    const twin = Object.fromEntries(
      Object.entries(values).map(([name, value]) => [
        name,
        { expected: { value }, expected_version: { cloud: 0, edge } } satisfies MsgTwin,
      ]),
    );
    void this.handler?.('default/scripted', { delta: values, twin });
  }

  /** Every reported value of one property, in order. */
  reported(name: string): ReportedValue[] {
    return this.reports.flatMap((r) => (r[name] ? [r[name]] : []));
  }
}

/** A resolved device of scripted properties: a FLOAT setpoint (5–35, ReadWrite) and a FLOAT temperature. */
export function scriptedDevice(
  options: { report?: ReportStrategy; collectCycle?: number; reportCycle?: number } = {},
): ResolvedDevice {
  const model = (p: ModelProperty) => p;
  const properties = [
    model({ name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly' }),
    model({ name: 'setpoint', type: 'FLOAT', accessMode: 'ReadWrite', minimum: '5', maximum: '35' }),
  ].map((m) => ({
    name: m.name,
    model: m,
    visitor: {},
    collectCycle: options.collectCycle ?? 1000,
    reportCycle: options.reportCycle ?? 1000,
    reportToCloud: true,
    ...(options.report && m.name === 'temperature' ? { report: options.report } : {}),
  }));
  return resolvedDevice({ name: 'scripted', protocol: 'scripted', config: {}, properties });
}
