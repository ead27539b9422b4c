import type { ResolvedDevice, ResolvedProperty, TwinValue } from '../../device-models/index.js';
import { toTwin } from '../codecs/twin-codec.js';
import type { Driver, Point, ProtocolMapper, Reading } from '../driver.js';
import type { Call } from '../runtime/call.js';
import { deadline } from '../runtime/call.js';
import type { ConnectionPool } from '../runtime/connection-pool.js';
import { driverContext } from './driver-context.js';

/**
 * What the conformance suite's cases share: points, calls, bounded waits and the messages assertions carry.
 * Internal to sdk/testing.
 */

export type AnyDriver = Driver<unknown, unknown>;

/** The JavaScript type a reading of each model type has. */
export const JS_TYPES: Record<string, string> = {
  INT: 'number',
  FLOAT: 'number',
  DOUBLE: 'number',
  BOOLEAN: 'boolean',
};

export function pointOf(p: ResolvedProperty): Point<unknown> {
  return { name: p.name, visitor: p.visitor, property: p.model };
}

export function newDriver(mapper: ProtocolMapper, connections?: ConnectionPool): AnyDriver {
  return mapper.createDriver(driverContext(connections ? { connections } : {})) as AnyDriver;
}

/** The calls the runtime would give: a request timeout, and a deadline of a few of them. */
export function calls(timeoutMs: number): { call(): Call; connect(): Call; bound: number } {
  return {
    call: () => ({ ...deadline(timeoutMs * 4 + 1000), timeoutMs }),
    connect: () => ({ ...deadline(Math.max(10_000, timeoutMs * 4)), timeoutMs }),
    /** How long the suite waits for a driver to give up on its own before it says the driver hangs. */
    bound: timeoutMs * 4 + 2000,
  };
}

/**
 * A call whose signal never aborts while the suite waits (it aborts once the test is over): whatever the driver
 * does with a silent device, it must do on its own, from `timeoutMs`, not because the call's deadline fired.
 */
export function openCall(timeoutMs: number, onDone: (cleanup: () => void) => void): Call {
  const controller = new AbortController();
  onDone(() => controller.abort(new Error('the conformance case is over')));
  return { signal: controller.signal, timeoutMs };
}

/** `promise`, or a rejection with `message` once `ms` have passed: a bound on a wait, never a measurement. */
export function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

/** What a promise settled to, without throwing: the value, or the error. */
export async function settled<T>(
  promise: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

/** An error's code and message as one short text, for assertion messages. */
export function describeError(error: unknown): string {
  if (error === undefined) return 'nothing (it succeeded)';
  const e = error as { code?: unknown; message?: unknown; name?: unknown };
  const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'an error';
  return `${code} "${typeof e.message === 'string' ? e.message : String(error)}"`;
}

export function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A value as the twin would show it (the property's codec), or a description when the codec refuses it. */
export function twinText(property: ResolvedProperty, value: TwinValue): string {
  try {
    return toTwin(property.model, value);
  } catch {
    return `${JSON.stringify(value)} (not a ${property.model.type})`;
  }
}

/** A readable description of a reading, for messages. */
export function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** The properties of `device` that are written: every one not ReadOnly. */
export function writableOf(device: ResolvedDevice): ResolvedProperty[] {
  return device.properties.filter((p) => p.model.accessMode !== 'ReadOnly');
}

/** A value within the model's bounds that the device can hold: a third of the way up, booleans true. */
export function defaultWriteValue(p: ResolvedProperty): TwinValue {
  const { type, minimum, maximum } = p.model;
  if (type === 'BOOLEAN') return true;
  if (type === 'STRING') return 'edgetwin';
  const lo = minimum !== undefined ? Number(minimum) : 0;
  const hi = maximum !== undefined ? Number(maximum) : lo + 100;
  const third = lo + (hi - lo) / 3;
  return type === 'INT' ? Math.round(third) : Math.round(third * 10) / 10;
}

/** Checks a reading against its property's model; returns what is wrong, or undefined. */
export function readingProblem(
  property: ResolvedProperty,
  reading: Reading | Error | undefined,
): string | undefined {
  const { name, model } = property;
  if (reading === undefined) return `${name}: no reading at all`;
  if (reading instanceof Error)
    return `${name}: read failed with ${describeError(reading)}; the simulator serves it, so the driver must read it`;
  if (reading.quality !== 'good')
    return `${name}: quality "${reading.quality}" from a healthy simulator; a value read as the device sent it is "good"`;
  const expected = JS_TYPES[model.type] ?? 'string';
  if (typeof reading.value !== expected)
    return `${name} is a ${model.type}: expected a ${expected}, got ${show(reading.value)} (${typeof reading.value}); decode it to the model's type`;
  if (model.type === 'INT' && !Number.isInteger(reading.value))
    return `${name} is an INT: got ${show(reading.value)}; round or refuse, never hand out a fraction`;
  if (!(reading.timestamp > Date.now() - 60_000 && reading.timestamp <= Date.now() + 1000))
    return `${name}: timestamp ${reading.timestamp} is not the time the value was read (ms since the epoch, now ${Date.now()})`;
  return undefined;
}
