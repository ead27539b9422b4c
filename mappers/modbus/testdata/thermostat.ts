import type {
  ModbusConfig,
  ModbusVisitor,
  ModelProperty,
  ResolvedDevice,
  ResolvedProperty,
} from '../../../device-models/index.js';
import { resolvedDevice } from '../../../sdk/testing/resolved-device.js';

/** Test fixtures for the Modbus driver and simulator tests: resolved devices built in code. */

export function property(
  model: ModelProperty,
  visitor: ModbusVisitor,
  desired?: string,
): ResolvedProperty<ModbusVisitor> {
  return {
    name: model.name,
    model,
    visitor,
    collectCycle: 1000,
    reportCycle: 1000,
    reportToCloud: true,
    ...(desired === undefined ? {} : { desired }),
  };
}

/** A thermostat: temperature (input register, ×0.1), setpoint (holding register, ×0.1), heater (coil), plus `extra`. */
export function thermostat(
  extra: ResolvedProperty<ModbusVisitor>[] = [],
): ResolvedDevice<ModbusConfig, ModbusVisitor> {
  const properties = [
    property(
      {
        name: 'temperature',
        type: 'FLOAT',
        accessMode: 'ReadOnly',
        minimum: '-20',
        maximum: '50',
        unit: '°C',
      },
      { register: 'InputRegister', offset: 0, scale: 0.1, dataType: 'int16' },
    ),
    property(
      { name: 'setpoint', type: 'FLOAT', accessMode: 'ReadWrite', minimum: '5', maximum: '35', unit: '°C' },
      { register: 'HoldingRegister', offset: 10, scale: 0.1, dataType: 'int16' },
      '21.5',
    ),
    property(
      { name: 'heater', type: 'BOOLEAN', accessMode: 'ReadWrite' },
      { register: 'CoilRegister', offset: 0 },
    ),
    ...extra,
  ];
  return {
    ...resolvedDevice({ name: 'thermostat', protocol: 'modbus', config: { slaveID: 1 }, properties }),
    nodeName: 'edge-1',
  };
}
