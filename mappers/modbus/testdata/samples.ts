import {
  loadDevices,
  type ModbusConfig,
  type ModbusVisitor,
  type ResolvedDevice,
} from '../../../device-models/index.js';

export type ModbusDevice = ResolvedDevice<ModbusConfig, ModbusVisitor>;

const samples = new URL('../../../device-models/samples/', import.meta.url).pathname;

/** A Modbus sample device as shipped in device-models/samples, resolved (e.g. 'thermostat-01'). */
export async function sampleDevice(name: string): Promise<ModbusDevice> {
  const { devices } = await loadDevices([
    `${samples}modbus-tcp-thermostat.yaml`,
    `${samples}modbus-rtu-energy-meter.yaml`,
  ]);
  const device = devices.find((d) => d.name === name);
  if (!device) throw new Error(`no Modbus sample device ${name}`);
  return device as ModbusDevice;
}
