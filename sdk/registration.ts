import type { Static, TSchema } from '@sinclair/typebox';
import type { ProtocolDefinition, ResolvedDevice } from '../device-models/index.js';
import type { Driver, DriverContext, ProtocolMapper } from './driver.js';
import type { Logger } from './logger.js';

/**
 * The half of a protocol that is loaded only when a device uses it (node-opcua alone costs ~70 MB; noble
 * throws on import without Bluetooth): what `loadDriver` resolves to.
 */
export interface LoadedDriver<C = unknown, V = unknown> {
  createDriver(context: DriverContext): Driver<C, V>;
  /** How long one request may take for this config, ms (the runtime's deadline); default 5000. */
  timeoutMs?(config: C): number;
}

/** A simulator that is running, and the protocol config a mapper needs to reach it. */
export interface RunningSimulator {
  /** The protocol config (configData keys) that reaches the simulator, e.g. `{ ip, port }` with the bound port. */
  reached: Record<string, unknown>;
  /** Stops serving and releases every socket and port; safe to call twice. */
  stop(): Promise<void>;
}

/** How `createSimulator` serves a device: where it listens, a seed for its values, a logger. */
export interface SimulatorOptions {
  /** Interface to listen on; default the device's own (or 127.0.0.1). */
  host?: string;
  /** TCP port (0: any free one); default the device's own. Modbus RTU devices are then served over TCP. */
  port?: number;
  /** Modbus RTU and serial: serve on this serial line; default a pty pair of its own (socat). */
  rtu?: string;
  /** Seed of the simulated values, for runs that repeat. */
  seed?: number;
  log?: Logger;
}

/**
 * One protocol, everything about it in one object: what validation reads (schemas, checks, aliases), how the
 * mapper host gets a driver, and how `edgetwin sim` simulates a device. Importing a registration must stay
 * cheap: the driver and the simulator are behind `loadDriver`/`createSimulator`, which `import()` them.
 * The built-in protocols are the list in mappers/builtin.ts; a plug-in package's default (or `protocol`)
 * export is one of these.
 */
export interface ProtocolRegistration<CS extends TSchema = TSchema, VS extends TSchema = TSchema>
  extends ProtocolDefinition<CS, VS> {
  /** Imports the driver (a dynamic `import()`): called once, when the first device of the protocol starts. */
  loadDriver(): Promise<LoadedDriver<Static<CS>, Static<VS>>>;
  /** Starts a simulator serving one device as its YAML describes it (`edgetwin sim`, the demo). */
  createSimulator?(device: ResolvedDevice, options: SimulatorOptions): Promise<RunningSimulator>;
}

/** Helper that keeps the schema types when writing a registration. */
export function defineRegistration<CS extends TSchema, VS extends TSchema>(
  registration: ProtocolRegistration<CS, VS>,
): ProtocolRegistration<CS, VS> {
  return registration;
}

/** The protocol's driver half loaded, as the device runtime takes it. */
export async function loadProtocolMapper(registration: ProtocolRegistration): Promise<ProtocolMapper> {
  const loaded = await registration.loadDriver();
  if (typeof loaded?.createDriver !== 'function')
    throw new TypeError(
      `protocol ${registration.protocol}: loadDriver() must resolve to {createDriver(context), timeoutMs?(config)}`,
    );
  const { timeoutMs } = loaded;
  return {
    schemas: registration,
    createDriver: (context) => loaded.createDriver(context),
    ...(timeoutMs ? { timeoutMs: (config) => timeoutMs.call(loaded, config) } : {}),
  };
}

/** Whether a value can run devices (a registration, not only a protocol's schemas). */
export function isRegistration(value: ProtocolDefinition): value is ProtocolRegistration {
  return typeof (value as Partial<ProtocolRegistration>).loadDriver === 'function';
}
