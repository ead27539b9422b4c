import type { Static, TSchema } from '@sinclair/typebox';
import type { ModelProperty, ProtocolSchemas, TwinValue } from '../device-models/index.js';
import type { Logger } from './logger.js';

/** How much a reading can be trusted. */
export type Quality = 'good' | 'uncertain' | 'bad';

/** What a device read returns. */
export interface Reading {
  value: TwinValue;
  quality: Quality;
  /** ms since the epoch. */
  timestamp: number;
}

/** The connection state a driver reports; the runtime maps it to the device state on the EventBus. */
export type DriverState = 'connecting' | 'online' | 'offline' | 'unhealthy' | 'closed';

/** One property as a driver sees it: its address on the device and the model property it serves. */
export interface Point<V> {
  name: string;
  visitor: V;
  property: ModelProperty;
  /** How often the runtime wants the value, ms: a subscription's sampling interval. */
  collectCycle?: number;
}

/**
 * What a protocol implements. The device runtime in sdk/ owns cycles, reporting, desired values,
 * reconnects and state; a driver only talks to the device.
 */
export interface Driver<C, V> {
  /** Opens the connection; rejects when the device cannot be reached. */
  connect(config: C): Promise<void>;
  read(point: Point<V>): Promise<Reading>;
  /**
   * Optional batching: read several points in as few requests as the protocol allows.
   * The result has one entry per point, in order: a Reading or the Error for that point.
   */
  readMany?(points: Point<V>[]): Promise<(Reading | Error)[]>;
  write(point: Point<V>, value: TwinValue): Promise<void>;
  /** Optional: whether a point can be read at all (e.g. a write-only command); default true. */
  readable?(point: Point<V>): boolean;
  /** Optional push: call onValue on every change; resolves to an unsubscribe function. */
  subscribe?(point: Point<V>, onValue: (reading: Reading) => void): Promise<() => Promise<void>>;
  state(): DriverState;
  /** Releases every socket, port and timer; safe to call twice. */
  close(): Promise<void>;
}

export interface DriverContext {
  log: Logger;
}

/** A protocol's registration: its schemas and a driver factory. Loaded only when a device uses it. */
export interface ProtocolMapper<CS extends TSchema = TSchema, VS extends TSchema = TSchema> {
  schemas: ProtocolSchemas<CS, VS>;
  createDriver(context: DriverContext): Driver<Static<CS>, Static<VS>>;
}

/** `read` for a driver whose `readMany` does the work: the one result, or its error thrown. */
export async function readOneOf<V>(
  driver: { readMany(points: Point<V>[]): Promise<(Reading | Error)[]> },
  point: Point<V>,
): Promise<Reading> {
  const [result] = await driver.readMany([point]);
  if (result instanceof Error) throw result;
  if (!result) throw new Error(`no reading for ${point.name}`);
  return result;
}

/** Consecutive timeouts after which a driver reports its device gone (`offline`); before that, `unhealthy`. */
export const OFFLINE_AFTER_TIMEOUTS = 3;

/** The state a driver reports after `count` timeouts in a row: the one policy every driver shares. */
export function stateAfterTimeouts(count: number): Extract<DriverState, 'offline' | 'unhealthy'> {
  return count >= OFFLINE_AFTER_TIMEOUTS ? 'offline' : 'unhealthy';
}
