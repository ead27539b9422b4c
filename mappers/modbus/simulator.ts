import type { ModbusConfig } from '../../device-models/index.js';
import {
  type ModbusDevice,
  type ModbusFaults,
  type ModbusLineOptions,
  type ModbusRequest,
  serveModbusUnits,
} from './line-simulator.js';

export {
  createModbusLineSimulator,
  type ModbusFaults,
  type ModbusLineEndpoint,
  type ModbusLineOptions,
  type ModbusLineSimulator,
  type ModbusRequest,
  type ModbusSimulatorTransport,
  type ModbusUnit,
} from './line-simulator.js';
export { ILLEGAL_DATA_ADDRESS, ModbusException } from './register-map.js';

export interface ModbusSimulatorOptions extends ModbusLineOptions {
  /** Seeds the waveforms of ReadOnly properties (default 0). */
  seed?: number;
  /** The unit (slave) ID answered; default the device's `slaveID`, else 1. */
  unitId?: number;
}

export interface ModbusSimulator {
  /** Starts serving; resolves to the protocol config a client needs to reach it. */
  start(): Promise<Partial<ModbusConfig>>;
  /** Stops serving and frees the port or serial line; safe to call twice. */
  stop(): Promise<void>;
  /** Settable at any time. */
  faults: ModbusFaults;
  /** The requests received, in order, whether answered or not (bounded as the line's are). */
  readonly requests: ModbusRequest[];
  /** The last value a client wrote to the property's register(s), decoded with its visitor. */
  written(property: string): number | boolean | undefined;
  /** Test control: puts a value into the property's register(s) (a ReadOnly property stops moving). */
  set(property: string, value: number | boolean): void;
  /** The property's current value, decoded as a client reads it. */
  get(property: string): number | boolean;
}

/**
 * A Modbus slave serving exactly the registers and coils a Device names, over TCP or RTU: a line with this
 * one device on it (see createModbusLineSimulator). Every other address answers exception 2; other unit
 * IDs get no answer. ReadOnly properties follow seeded waveforms; ReadWrite ones keep what is written.
 */
export function createModbusSimulator(
  device: ModbusDevice,
  options: ModbusSimulatorOptions = {},
): ModbusSimulator {
  const { seed = 0, unitId = device.config.slaveID ?? 1, ...lineOptions } = options;
  const line = serveModbusUnits([{ device, unitId, seed }], lineOptions);
  const unit = line.unit(unitId);
  return {
    get faults() {
      return line.faults;
    },
    set faults(faults) {
      line.faults = faults;
    },
    requests: line.requests,
    start: async () => ({ ...(await line.start()), slaveID: unitId }),
    stop: () => line.stop(),
    written: (name) => unit.written(name),
    set: (name, value) => unit.set(name, value),
    get: (name) => unit.get(name),
  };
}
