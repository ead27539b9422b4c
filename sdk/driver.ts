import type { Static, TSchema } from '@sinclair/typebox';
import type { ModelProperty, ProtocolDefinition, TwinValue } from '../device-models/index.js';
import type { Logger } from './logger.js';
import type { Call } from './runtime/call.js';
import type { Connections } from './runtime/shared-connection.js';

/** How much a reading can be trusted. */
export type Quality = 'good' | 'uncertain' | 'bad';

/** What a device read returns. */
export interface Reading {
  /** The value, typed as the model property says (`toTwin` makes one from what the device sent). */
  value: TwinValue;
  quality: Quality;
  /** ms since the epoch. */
  timestamp: number;
}

/** One property as a driver sees it: its address on the device and the model property it serves. */
export interface Point<V> {
  /** The property's name in the model. */
  name: string;
  /** The property's visitor `configData`, validated against the protocol's visitor schema. */
  visitor: V;
  /** The model property: type, range, access mode. */
  property: ModelProperty;
  /** How often the runtime wants the value, ms: a subscription's sampling interval. */
  collectCycle?: number;
}

/**
 * What a protocol implements: talking to the device, nothing else. The device runtime in sdk/ owns the
 * request queue, deadlines, cycles, reporting, desired values, reconnects and the device state, which it
 * derives from the errors a driver throws: `ProtocolTimeout` (no answer), `DeviceUnavailable` (no
 * connection: reconnect), `ProtocolError` (the device answered with an error). Every call gets a `Call`
 * whose signal aborts at its deadline; calls to one driver never overlap.
 */
export interface Driver<C, V> {
  /** Opens the connection (or joins a shared one); rejects when the device cannot be reached. */
  connect(config: C, call: Call): Promise<void>;
  /** Reads one point; throws ProtocolTimeout, DeviceUnavailable or ProtocolError when it cannot. */
  read(point: Point<V>, call: Call): Promise<Reading>;
  /**
   * Optional batching: read several points in as few requests as the protocol allows.
   * The result has one entry per point, in order: a Reading or the Error for that point.
   */
  readMany?(points: Point<V>[], call: Call): Promise<(Reading | Error)[]>;
  /** `value` is already typed, and range-checked against the model (`fromTwin`). */
  write(point: Point<V>, value: TwinValue, call: Call): Promise<void>;
  /** Optional: whether a point can be read at all (e.g. a write-only command); default true. */
  readable?(point: Point<V>): boolean;
  /** Optional push: call onValue on every change; resolves to an unsubscribe function. */
  subscribe?(point: Point<V>, onValue: (reading: Reading) => void, call: Call): Promise<() => Promise<void>>;
  /** Releases every socket, port, listener and timer (or its hold on a shared one); safe to call twice. */
  close(): Promise<void>;
  /**
   * Optional, once connected: the key of the connection this device shares with others and that answers one
   * request at a time (a Modbus gateway's ip:port, an RS-485 line). The read cycles of the devices on one such
   * line take turns: each starts when the one before it has finished, rather than every device of a cycle
   * queueing its requests at once.
   */
  readonly sharedLine?: string;
}

/** What a driver is given when it is created (`ProtocolMapper.createDriver`, `LoadedDriver.createDriver`). */
export interface DriverContext {
  /** The driver's logger, namespaced to its device. */
  log: Logger;
  /** Where drivers get connections that several devices share (one per serial line or ip:port). */
  connections: Connections;
  /** Tells the runtime the connection is gone (seen by the library between requests): it reconnects. */
  lost(reason: Error): void;
}

/**
 * A protocol's driver half as the device runtime takes it: its schemas and a driver factory, loaded only
 * when a device uses it. A protocol is registered as a `ProtocolRegistration` (sdk/registration.ts), which
 * `loadProtocolMapper` turns into one of these.
 */
export interface ProtocolMapper<CS extends TSchema = TSchema, VS extends TSchema = TSchema> {
  /** The protocol's name and its config and visitor schemas. */
  schemas: ProtocolDefinition<CS, VS>;
  /** A driver for one device: called once per device, which then connects it. */
  createDriver(context: DriverContext): Driver<Static<CS>, Static<VS>>;
  /** How long one request may take for this config, ms (the runtime's deadline); default 5000. */
  timeoutMs?(config: Static<CS>): number;
}

/** `read` for a driver whose `readMany` does the work: the one result, or its error thrown. */
export async function readOneOf<V>(
  driver: { readMany(points: Point<V>[], call: Call): Promise<(Reading | Error)[]> },
  point: Point<V>,
  call: Call,
): Promise<Reading> {
  const [result] = await driver.readMany([point], call);
  if (result instanceof Error) throw result;
  if (!result) throw new Error(`no reading for ${point.name}`);
  return result;
}
