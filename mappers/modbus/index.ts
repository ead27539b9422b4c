import { type ModbusConfig, type ModbusVisitor, modbus } from '../../device-models/index.js';
import type { ProtocolMapper } from '../../sdk/driver.js';
import { ModbusDriver } from './driver.js';

/** The Modbus mapper: KubeEdge's modbus visitor and connection schemas, and a modbus-serial driver. */
export const modbusMapper: ProtocolMapper<typeof ModbusConfig, typeof ModbusVisitor> = {
  schemas: modbus,
  createDriver: (context) => new ModbusDriver(context),
};

export { ModbusDriver, OFFLINE_AFTER_TIMEOUTS } from './driver.js';
export {
  createModbusSimulator,
  createModbusSimulator as createSimulator,
  type ModbusFaults,
  type ModbusRequest,
  type ModbusSimulator,
  type ModbusSimulatorOptions,
  type ModbusSimulatorTransport,
} from './simulator.js';
