import { type ModbusRegister, type ModbusVisitor, modbusDataType } from '../../device-models/index.js';
import { registerCount } from '../../sdk/codecs/index.js';
import type { Point } from '../../sdk/driver.js';

/** One Modbus read request covering one or more points. */
export interface ReadRequest {
  register: ModbusRegister;
  slaveID?: number;
  start: number;
  count: number;
  /** The points it serves: `index` into the planned array, `offset` from `start`, `count` registers/coils. */
  points: { index: number; offset: number; count: number }[];
}

export interface PlanOptions {
  /** Unused registers allowed between two points merged into one request (default 8). */
  maxGap?: number;
  /** Largest register read, FC3/FC4 (default 125, the protocol's limit). */
  maxRegisters?: number;
  /** Largest coil/discrete-input read, FC1/FC2 (default 2000, the protocol's limit). */
  maxCoils?: number;
}

const BITS: readonly ModbusRegister[] = ['CoilRegister', 'DiscreteInputRegister'];

/** How many registers (or coils) a point spans. */
export function pointSpan(point: Point<ModbusVisitor>): number {
  const { visitor } = point;
  if (BITS.includes(visitor.register)) return visitor.limit ?? 1;
  return Math.max(visitor.limit ?? 1, registerCount(modbusDataType(visitor, point.property.type)));
}

/**
 * Coalesces the reads of one connection: points of the same register type whose addresses are contiguous or
 * near (gap ≤ maxGap) share one request, up to the protocol's size limits.
 */
export function planReads(points: readonly Point<ModbusVisitor>[], options: PlanOptions = {}): ReadRequest[] {
  const { maxGap = 8, maxRegisters = 125, maxCoils = 2000 } = options;
  const items = points
    .map((point, index) => ({
      index,
      register: point.visitor.register,
      start: point.visitor.offset,
      count: pointSpan(point),
    }))
    .sort((a, b) => a.register.localeCompare(b.register) || a.start - b.start);
  const requests: ReadRequest[] = [];
  let current: ReadRequest | undefined;
  for (const item of items) {
    const cap = BITS.includes(item.register) ? maxCoils : maxRegisters;
    const end = item.start + item.count;
    const fits =
      current !== undefined &&
      current.register === item.register &&
      item.start - (current.start + current.count) <= maxGap &&
      Math.max(end, current.start + current.count) - current.start <= cap;
    if (!current || !fits) {
      current = { register: item.register, start: item.start, count: item.count, points: [] };
      requests.push(current);
    }
    current.count = Math.max(current.count, end - current.start);
    current.points.push({ index: item.index, offset: item.start - current.start, count: item.count });
  }
  return requests;
}

/** The words (or bits) of one member of a request's response. */
export function extractPoint(
  _request: ReadRequest,
  words: readonly number[],
  member: ReadRequest['points'][number],
): number[] {
  return words.slice(member.offset, member.offset + member.count);
}
