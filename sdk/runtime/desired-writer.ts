import type { MsgTwin, ResolvedDevice, ResolvedProperty, TwinValue } from '../../device-models/index.js';
import { fromTwin } from '../codecs/twin-codec.js';
import { DeviceUnavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { type BackoffOptions, backoffDelay } from './backoff.js';
import type { Timers } from './timers.js';

/** One desired value to write: its intent (the desired version it came with) and its typed, checked value. */
interface Intent {
  key: string;
  text: string;
  value: TwinValue;
  attempt: number;
  /** Not before this time (ms): a retry waiting for its backoff. */
  notBefore: number;
}

export interface DesiredWriterOptions {
  device: ResolvedDevice;
  log: Logger;
  timers: Timers;
  backoff?: BackoffOptions;
  random?: () => number;
  /** Attempts per intent before giving up (default 5). */
  maxAttempts?: number;
  /** Writes the value and reads it back (undefined when the point cannot be read). */
  apply(property: ResolvedProperty, value: TwinValue): Promise<TwinValue | undefined>;
  /** Reports what the device holds after a write; `reason` says why it is not the desired value. */
  confirm(
    property: ResolvedProperty,
    intent: { text: string; value: TwinValue },
    held: TwinValue | undefined,
  ): Promise<void>;
  /** A write failed for good (or the value was refused): events and logs. */
  failed(property: ResolvedProperty, error: Error, final: boolean): void;
  /** Whether a connection is there to write on. */
  connected(): boolean;
}

/**
 * Desired values, written once per intent. An intent is a desired version (`expected_version`, else the
 * desired timestamp, else the text): a delta repeating one already written is not written again, whatever the
 * device then holds; what it holds is reported, and a value it cannot hold leaves the delta standing — never a
 * write loop. Values are parsed and range-checked against the model before any write (`fromTwin`); refused
 * ones are never written. A failed write is retried with the runtime's backoff, at most `maxAttempts` times;
 * while the connection is down the intent waits without spending attempts.
 */
export class DesiredWriter {
  private readonly pending = new Map<string, Intent>();
  /** The last intent of each property that was written or given up on. */
  private readonly done = new Map<string, string>();
  private draining = false;

  constructor(private readonly options: DesiredWriterOptions) {}

  /** Desired values from a delta (or from `twin/get` at connect): queues those not written yet. */
  offer(delta: Record<string, string>, twins: Record<string, MsgTwin | null | undefined> = {}): void {
    for (const [name, text] of Object.entries(delta)) this.offerOne(name, text, intentKey(text, twins[name]));
  }

  /** The Device spec's own desired values (a mapper running without a twin). */
  offerSpec(): void {
    for (const p of this.options.device.properties)
      if (p.desired !== undefined && p.model.accessMode !== 'ReadOnly')
        this.offerOne(p.name, p.desired, `spec:${p.desired}`);
  }

  /** Pending intents (for tests and metrics). */
  get size(): number {
    return this.pending.size;
  }

  private offerOne(name: string, text: string, key: string): void {
    const { log, device } = this.options;
    if (this.done.get(name) === key || this.pending.get(name)?.key === key) return;
    const property = device.properties.find((p) => p.name === name);
    if (!property) {
      log.warn({ property: name }, 'desired value for a property this device does not have; ignored');
      return;
    }
    if (property.model.accessMode === 'ReadOnly') {
      this.done.set(name, key);
      log.warn({ property: name }, 'desired value for a ReadOnly property; not written');
      return;
    }
    let value: TwinValue;
    try {
      value = fromTwin(property.model, text);
    } catch (error) {
      this.done.set(name, key);
      this.pending.delete(name);
      this.options.failed(property, error as Error, true);
      return;
    }
    this.pending.set(name, { key, text, value, attempt: 0, notBefore: 0 });
  }

  /** Writes what is pending and due, one at a time; returns when nothing more can be written now. */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (;;) {
        const now = Date.now();
        const next = [...this.pending].find(([, intent]) => intent.notBefore <= now);
        if (!next || !this.options.connected()) return;
        if (!(await this.write(...next))) return;
      }
    } finally {
      this.draining = false;
    }
  }

  /** Writes one intent; false when the connection went away (the intent waits for the next one). */
  private async write(name: string, intent: Intent): Promise<boolean> {
    const { device, log } = this.options;
    const property = device.properties.find((p) => p.name === name)!;
    let held: TwinValue | undefined;
    try {
      held = await this.options.apply(property, intent.value);
    } catch (error) {
      if (error instanceof DeviceUnavailable) {
        this.options.failed(property, error, false);
        return false;
      }
      if (this.pending.get(name) !== intent) return true;
      intent.attempt++;
      const final = intent.attempt >= (this.options.maxAttempts ?? 5);
      this.options.failed(property, error as Error, final);
      if (final) {
        this.pending.delete(name);
        this.done.set(name, intent.key);
        return true;
      }
      const delay = backoffDelay(intent.attempt - 1, this.options.backoff, this.options.random);
      intent.notBefore = Date.now() + delay;
      this.options.timers.after(delay, () => void this.drain());
      return true;
    }
    if (this.pending.get(name) === intent) this.pending.delete(name);
    this.done.set(name, intent.key);
    log.info({ property: name, value: intent.value, held }, 'desired value written');
    await this.options.confirm(property, intent, held);
    return true;
  }
}

/** The intent a desired value belongs to: its version when the twin carries one. */
function intentKey(text: string, twin: MsgTwin | null | undefined): string {
  const version = twin?.expected_version;
  if (version) return `v${version.cloud ?? 0}.${version.edge ?? 0}:${text}`;
  const at = twin?.expected?.metadata?.timestamp;
  if (at !== undefined) return `t${at}:${text}`;
  return `=${text}`;
}
