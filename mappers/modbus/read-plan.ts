import { type ModbusRegister, type ModbusVisitor, modbusDataType } from '../../device-models/index.js';
import { registerCount } from '../../sdk/codecs/index.js';
import type { Point } from '../../sdk/driver.js';
import { ProtocolError } from '../../sdk/errors.js';

/** One point served by a request: its position in the planned array and where it sits in the response. */
export interface ReadMember {
  /** Index of the point in the array given to `planReads`. */
  index: number;
  /** First register (or coil) of the point, relative to the request's `start`. */
  offset: number;
  /** Registers (or coils) the point spans. */
  count: number;
}

/** One Modbus read (FC1–FC4) covering one or more points. */
export interface ReadRequest {
  register: ModbusRegister;
  /** Unit to address; undefined means the connection's own. Visitors do not carry one today. */
  slaveID?: number;
  start: number;
  count: number;
  points: ReadMember[];
}

export interface PlanOptions {
  /** Unused registers (or coils) allowed between two points read by one request (default 8). */
  maxGap?: number;
  /** Largest holding/input register read, FC3/FC4 (default 125, the protocol's limit). */
  maxRegisters?: number;
  /** Largest coil/discrete-input read, FC1/FC2 (default 2000, the protocol's limit). */
  maxCoils?: number;
}

const BITS: readonly ModbusRegister[] = ['CoilRegister', 'DiscreteInputRegister'];

/** How many registers (or coils) a point spans: its limit, and for words at least its data type's width. */
export function pointSpan({ visitor, property }: Point<ModbusVisitor>): number {
  if (BITS.includes(visitor.register)) return visitor.limit ?? 1;
  return Math.max(visitor.limit ?? 1, registerCount(modbusDataType(visitor, property.type)));
}

/**
 * Coalesces one cycle's reads on a connection. Points of the same register type are sorted by
 * address; a point joins the request before it when the gap of unused registers is at most `maxGap` and
 * the merged span stays within the protocol's cap. Overlapping points share a request; a single point
 * larger than the cap gets a request of its own. Every point lands in exactly one request.
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
    const joins =
      current !== undefined &&
      current.register === item.register &&
      item.start - (current.start + current.count) <= maxGap &&
      Math.max(end, current.start + current.count) - current.start <= cap;
    if (!current || !joins) {
      current = { register: item.register, start: item.start, count: item.count, points: [] };
      requests.push(current);
    }
    current.count = Math.max(current.count, end - current.start);
    current.points.push({ index: item.index, offset: item.start - current.start, count: item.count });
  }
  return requests;
}

/**
 * The words (or bits, as 0/1) of one member out of its request's response. Throws ProtocolError when the
 * response is too short to hold the member.
 */
export function extractPoint(request: ReadRequest, words: readonly number[], member: ReadMember): number[] {
  const end = member.offset + member.count;
  if (words.length < end)
    throw new ProtocolError(
      `${request.register} read at ${request.start} returned ${words.length} values, needed ${end}`,
    );
  return words.slice(member.offset, end);
}
