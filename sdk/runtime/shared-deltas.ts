import type { MsgTwinMap } from '../../device-models/index.js';
import type { DeltaMessage, DeviceBus } from './device-bus.js';

type DeltaHandler = (id: string, message: DeltaMessage) => void | Promise<void>;

/**
 * A DeviceBus for many device runtimes that subscribes to `…/twin/update/delta` once, with a wildcard, and
 * hands each message to its device's handler by id: one subscription however many devices, and no work per
 * message that grows with them. Everything else goes straight to the bus underneath.
 */
export class SharedDeltas implements DeviceBus {
  private readonly handlers = new Map<string, DeltaHandler>();
  private subscription: Promise<() => Promise<void>> | undefined;

  constructor(private readonly bus: DeviceBus) {}

  reportActual: DeviceBus['reportActual'] = (id, values) => this.bus.reportActual(id, values);
  publishState: DeviceBus['publishState'] = (id, state) => this.bus.publishState(id, state);
  getTwins = (id: string, timeoutMs?: number): Promise<MsgTwinMap | undefined> =>
    this.bus.getTwins(id, timeoutMs);

  async onDelta(id: string, handler: DeltaHandler): Promise<() => Promise<void>> {
    this.handlers.set(id, handler);
    this.subscription ??= this.bus.onDelta('+', (deviceId, message) =>
      this.handlers.get(deviceId)?.(deviceId, message),
    );
    try {
      await this.subscription;
    } catch (error) {
      this.subscription = undefined;
      this.handlers.delete(id);
      throw error;
    }
    return async () => {
      if (this.handlers.get(id) === handler) this.handlers.delete(id);
    };
  }

  /** Drops the wildcard subscription; safe to call twice. */
  async close(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = undefined;
    this.handlers.clear();
    const unsubscribe = await subscription?.catch(() => undefined);
    await unsubscribe?.().catch(() => {});
  }
}
