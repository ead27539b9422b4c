import { EventEmitter } from 'node:events';
import type { ResolvedDevice } from '../../device-models/index.js';
import type { ProtocolMapper } from '../driver.js';
import { type Logger, silentLogger } from '../logger.js';
import type { DeviceBus } from './device-bus.js';
import { DeviceRuntime, type DeviceRuntimeOptions } from './device-runtime.js';
import { SharedDeltas } from './shared-deltas.js';

/** Loads a protocol's mapper on first use (a Modbus-only gateway never loads OPC UA), or undefined if none. */
export type MapperLoader = (protocol: string) => Promise<ProtocolMapper | undefined>;

/** What a MapperHost runs: devices, the bus it talks to the twin on, and where mappers come from. */
export interface MapperHostOptions {
  /** Where reported values and states go and deltas come from: an `EventBus` connected to edgecore's broker. */
  bus: DeviceBus;
  /** The devices to run (`loadDevices`); one runtime each, if their protocol has a mapper. */
  devices: readonly ResolvedDevice[];
  /** The mapper of a protocol, loaded on first use; e.g. `async (p) => p === 'mine' ? mine : undefined`. */
  loadMapper: MapperLoader;
  log?: Logger;
  /** Passed to every device runtime (backoff, connect timeout, applySpecDesired…). */
  runtime?: Omit<DeviceRuntimeOptions, 'device' | 'mapper' | 'bus' | 'log'>;
}

/**
 * Runs a device runtime per device, each on the EventBus exactly as an external mapper would. Devices whose
 * protocol has no mapper are listed in `waiting`, not faked. Emits `runtime` (DeviceRuntime) for each one started.
 */
export class MapperHost extends EventEmitter {
  readonly runtimes = new Map<string, DeviceRuntime>();
  readonly waiting = new Map<string, string>();
  private readonly log: Logger;
  /** One wildcard delta subscription for every runtime here, not one per device. */
  private readonly bus: SharedDeltas;

  constructor(private readonly options: MapperHostOptions) {
    super();
    this.log = (options.log ?? silentLogger).child({ module: 'mapper-host' });
    this.bus = new SharedDeltas(options.bus);
  }

  private readonly mappers = new Map<string, Promise<ProtocolMapper | undefined>>();

  async start(): Promise<void> {
    for (const device of this.options.devices) await this.add(device);
  }

  /** Starts a runtime for one more device (or restarts it, when it changed). */
  async add(device: ResolvedDevice): Promise<void> {
    await this.remove(device.id);
    if (!this.mappers.has(device.protocol)) this.mappers.set(device.protocol, this.load(device.protocol));
    const mapper = await this.mappers.get(device.protocol);
    if (!mapper) {
      this.waiting.set(device.id, device.protocol);
      return;
    }
    const runtime = new DeviceRuntime({
      ...this.options.runtime,
      device,
      mapper,
      bus: this.bus,
      log: this.options.log ?? silentLogger,
    });
    this.runtimes.set(device.id, runtime);
    this.emit('runtime', runtime);
    await runtime.start();
  }

  /** Stops the runtime of a device that went away. */
  async remove(id: string): Promise<void> {
    this.waiting.delete(id);
    const runtime = this.runtimes.get(id);
    this.runtimes.delete(id);
    await runtime?.stop();
  }

  private async load(protocol: string): Promise<ProtocolMapper | undefined> {
    try {
      const mapper = await this.options.loadMapper(protocol);
      if (!mapper) this.log.info({ protocol }, 'no mapper for this protocol yet; its devices wait');
      return mapper;
    } catch (error) {
      this.log.error({ protocol, err: (error as Error).message }, 'mapper failed to load; its devices wait');
      return undefined;
    }
  }

  /** Stops every device runtime; safe to call twice. */
  async stop(): Promise<void> {
    await Promise.all([...this.runtimes.values()].map((r) => r.stop()));
    this.runtimes.clear();
    await this.bus.close();
  }
}
