import { type ModbusConfig, type ModbusVisitor, modbus } from '../../device-models/index.js';
import type { ProtocolMapper } from '../../sdk/driver.js';
import { DEFAULT_TIMEOUT_MS, ModbusDriver } from './driver.js';

/** The Modbus mapper: KubeEdge's modbus visitor and connection schemas, and a modbus-serial driver. */
export const modbusMapper: ProtocolMapper<typeof ModbusConfig, typeof ModbusVisitor> = {
  schemas: modbus,
  createDriver: (context) => new ModbusDriver(context),
  timeoutMs: (config) => config.timeout ?? DEFAULT_TIMEOUT_MS,
};

export { ModbusDriver, modbusEndpoint } from './driver.js';
export { ModbusLineError } from './errors.js';
export {
  createModbusLineSimulator,
  type ModbusLineEndpoint,
  type ModbusLineOptions,
  type ModbusLineSimulator,
  type ModbusUnit,
} from './line-simulator.js';
export {
  createModbusSimulator,
  createModbusSimulator as createSimulator,
  type ModbusFaults,
  type ModbusRequest,
  type ModbusSimulator,
  type ModbusSimulatorOptions,
  type ModbusSimulatorTransport,
} from './simulator.js';
