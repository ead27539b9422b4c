import {
  type ModbusDataType,
  type ModbusRegister,
  type ModbusVisitor,
  modbusDataType,
  parseTwinValue,
  type ResolvedProperty,
} from '../../device-models/internal.js';
import {
  decodeRegisters,
  encodeRegisters,
  type RegisterEncoding,
  registerCount,
} from '../../sdk/codecs/modbus-registers.js';
import { propertyRange, type Range, waveFor } from './waveform.js';

/** Modbus exception 2: the address is not one this slave serves (or not writable). */
export const ILLEGAL_DATA_ADDRESS = 2;

/** Thrown inside the service vector; modbus-serial answers with `modbusErrorCode`. */
export class ModbusException extends Error {
  constructor(
    readonly modbusErrorCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ModbusException';
  }
}

export type Table = 'coil' | 'discrete' | 'holding' | 'input';

const TABLES: Record<ModbusRegister, Table> = {
  CoilRegister: 'coil',
  DiscreteInputRegister: 'discrete',
  HoldingRegister: 'holding',
  InputRegister: 'input',
};

/** The raw range of each encoding; × scale gives what a property can hold. */
const RAW_RANGE: Record<ModbusDataType, Range> = {
  boolean: { min: 0, max: 1 },
  int16: { min: -0x8000, max: 0x7fff },
  uint16: { min: 0, max: 0xffff },
  int32: { min: -0x80000000, max: 0x7fffffff },
  uint32: { min: 0, max: 0xffffffff },
  float32: { min: -3.4e38, max: 3.4e38 },
  float64: { min: -Number.MAX_VALUE, max: Number.MAX_VALUE },
};

/** One property's place in the slave's memory. */
interface Slot {
  property: ResolvedProperty<ModbusVisitor>;
  table: Table;
  address: number;
  /** Addresses served: the visitor's limit, at least the encoding's width. */
  span: number;
  encoding: RegisterEncoding;
  writable: boolean;
  /** ReadOnly properties move until a test pins them with set(). */
  wave?: (elapsedMs: number) => number | boolean;
  written?: number | boolean;
}

/** One slave's memory, as the simulator's service vector reads and writes it. */
export type RegisterMap = ReturnType<typeof createRegisterMap>;

/**
 * A slave's memory: the four tables, holding only what the device's properties name. Any other address
 * throws exception 2; ReadOnly properties follow seeded waveforms, ReadWrite ones keep what is written.
 */
export function createRegisterMap(
  properties: readonly ResolvedProperty<ModbusVisitor>[],
  seed: number,
  now: () => number,
) {
  const startedAt = now();
  const memory: Record<Table, Map<number, number>> = {
    coil: new Map(),
    discrete: new Map(),
    holding: new Map(),
    input: new Map(),
  };
  const index: Record<Table, Map<number, Slot>> = {
    coil: new Map(),
    discrete: new Map(),
    holding: new Map(),
    input: new Map(),
  };
  const slots = new Map<string, Slot>();

  const bits = (slot: Slot) => slot.table === 'coil' || slot.table === 'discrete';

  function store(slot: Slot, value: number | boolean): void {
    const table = memory[slot.table];
    if (bits(slot)) table.set(slot.address, value === true || (value !== false && value !== 0) ? 1 : 0);
    else
      encodeRegisters(Number(value), slot.encoding).forEach((word, i) => {
        table.set(slot.address + i, word);
      });
  }

  function decode(slot: Slot): number | boolean {
    const table = memory[slot.table];
    if (bits(slot)) return table.get(slot.address) === 1;
    const width = registerCount(slot.encoding.dataType);
    const words = Array.from({ length: width }, (_, i) => table.get(slot.address + i) ?? 0);
    const value = decodeRegisters(words, slot.encoding);
    return slot.property.model.type === 'INT' ? Math.round(value) : value;
  }

  function refresh(slot: Slot): void {
    if (slot.wave) store(slot, slot.wave(now() - startedAt));
  }

  function lookup(table: Table, address: number, forWrite = false): Slot {
    const slot = index[table].get(address);
    if (!slot || (forWrite && !slot.writable))
      throw new ModbusException(
        ILLEGAL_DATA_ADDRESS,
        `${forWrite && slot ? 'read-only' : 'no'} ${table} at ${address}`,
      );
    return slot;
  }

  function named(name: string): Slot {
    const slot = slots.get(name);
    if (!slot) throw new Error(`the simulated device has no property "${name}"`);
    return slot;
  }

  for (const property of properties) {
    const { visitor, model } = property;
    const table = TABLES[visitor.register];
    const dataType = modbusDataType(visitor, model.type);
    const width = registerCount(dataType);
    const encoding: RegisterEncoding = {
      dataType,
      ...(visitor.scale === undefined ? {} : { scale: visitor.scale }),
      ...(visitor.isSwap === undefined ? {} : { isSwap: visitor.isSwap }),
      ...(visitor.isRegisterSwap === undefined ? {} : { isRegisterSwap: visitor.isRegisterSwap }),
    };
    const slot: Slot = {
      property,
      table,
      address: visitor.offset,
      span: Math.max(visitor.limit ?? width, width),
      encoding,
      writable:
        (table === 'coil' || table === 'holding') && (model.accessMode ?? 'ReadWrite') === 'ReadWrite',
    };
    const scale = visitor.scale ?? 1;
    const raw = RAW_RANGE[dataType];
    const representable = {
      min: Math.min(raw.min * scale, raw.max * scale),
      max: Math.max(raw.min * scale, raw.max * scale),
    };
    for (let i = 0; i < slot.span; i++) {
      index[table].set(slot.address + i, slot);
      memory[table].set(slot.address + i, 0);
    }
    slots.set(property.name, slot);
    if (!slot.writable) slot.wave = waveFor(model, seed, representable);
    else store(slot, initialValue(property, representable));
  }

  return {
    readBit(table: Table, address: number): boolean {
      const slot = lookup(table, address);
      refresh(slot);
      return memory[table].get(address) === 1;
    },
    readWords(table: Table, address: number, count: number): number[] {
      const touched = new Set<Slot>();
      for (let i = 0; i < count; i++) touched.add(lookup(table, address + i));
      for (const slot of touched) refresh(slot);
      return Array.from({ length: count }, (_, i) => memory[table].get(address + i) ?? 0);
    },
    writeBit(address: number, value: boolean): void {
      const slot = lookup('coil', address, true);
      memory.coil.set(address, value ? 1 : 0);
      slot.written = decode(slot);
    },
    writeWords(address: number, values: readonly number[]): void {
      const touched = new Set<Slot>();
      for (let i = 0; i < values.length; i++) touched.add(lookup('holding', address + i, true));
      values.forEach((word, i) => {
        memory.holding.set(address + i, word);
      });
      for (const slot of touched) slot.written = decode(slot);
    },
    written: (name: string) => named(name).written,
    set(name: string, value: number | boolean): void {
      const slot = named(name);
      slot.wave = undefined;
      store(slot, value);
    },
    get(name: string): number | boolean {
      const slot = named(name);
      refresh(slot);
      return decode(slot);
    },
  };
}

/** A ReadWrite property starts at its desired value, else in the middle of its range. */
function initialValue(property: ResolvedProperty<ModbusVisitor>, representable: Range): number | boolean {
  const type = property.model.type;
  if (property.desired !== undefined) {
    const parsed = parseTwinValue(type, property.desired);
    if (parsed.ok && typeof parsed.value !== 'string') return parsed.value;
  }
  if (type === 'BOOLEAN') return false;
  const range = propertyRange(property.model, representable);
  const middle = (range.min + range.max) / 2;
  return type === 'INT' ? Math.round(middle) : middle;
}
