import { compareText } from '../compare-text.js';
import type { ModelProperty } from '../schema/device-model.js';
import { MODBUS_DATA_TYPES, type ModbusRegister, type ModbusVisitor, modbusDataType } from './modbus.js';

/**
 * Which Modbus reads one cycle of a device takes: the coalescing the Modbus driver does (mappers/modbus
 * uses it as is) and that validation needs to estimate how busy an RTU line is. Pure: no I/O.
 */

/** What the planner needs of a point: its visitor and the type of its property. */
export interface ModbusPoint {
  visitor: ModbusVisitor;
  property: Pick<ModelProperty, 'type'>;
}

/** One point served by a request: its position in the planned array and where it sits in the response. */
export interface ModbusReadMember {
  /** Index of the point in the array given to `planModbusReads`. */
  index: number;
  /** First register (or coil) of the point, relative to the request's `start`. */
  offset: number;
  /** Registers (or coils) the point spans. */
  count: number;
}

/** One Modbus read (FC1–FC4) covering one or more points. */
export interface ModbusReadRequest {
  register: ModbusRegister;
  /** Unit to address; undefined means the connection's own. Visitors do not carry one today. */
  slaveID?: number;
  start: number;
  count: number;
  points: ModbusReadMember[];
}

export interface ModbusPlanOptions {
  /** Unused registers (or coils) allowed between two points read by one request (default 8). */
  maxGap?: number;
  /** Largest holding/input register read, FC3/FC4 (default 125, the protocol's limit). */
  maxRegisters?: number;
  /** Largest coil/discrete-input read, FC1/FC2 (default 2000, the protocol's limit). */
  maxCoils?: number;
}

const BITS: readonly ModbusRegister[] = ['CoilRegister', 'DiscreteInputRegister'];

/** Coils and discrete inputs: one bit each (FC1/FC2), as opposed to 16-bit registers. */
export function isBitRegister(register: ModbusRegister): boolean {
  return BITS.includes(register);
}

/** How many registers (or coils) a point spans: its limit, and for words at least its data type's width. */
export function modbusPointSpan({ visitor, property }: ModbusPoint): number {
  if (isBitRegister(visitor.register)) return visitor.limit ?? 1;
  return Math.max(visitor.limit ?? 1, MODBUS_DATA_TYPES[modbusDataType(visitor, property.type)]);
}

/**
 * Coalesces one cycle's reads on a connection. Points of the same register type are sorted by
 * address; a point joins the request before it when the gap of unused registers is at most `maxGap` and
 * the merged span stays within the protocol's cap. Overlapping points share a request; a single point
 * larger than the cap gets a request of its own. Every point lands in exactly one request.
 */
export function planModbusReads(
  points: readonly ModbusPoint[],
  options: ModbusPlanOptions = {},
): ModbusReadRequest[] {
  const { maxGap = 8, maxRegisters = 125, maxCoils = 2000 } = options;
  const items = points
    .map((point, index) => ({
      index,
      register: point.visitor.register,
      start: point.visitor.offset,
      count: modbusPointSpan(point),
    }))
    .sort((a, b) => compareText(a.register, b.register) || a.start - b.start);
  const requests: ModbusReadRequest[] = [];
  let current: ModbusReadRequest | undefined;
  for (const item of items) {
    const cap = isBitRegister(item.register) ? maxCoils : maxRegisters;
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
