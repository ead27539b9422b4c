import {
  loadDevices,
  type OpcuaConfig,
  type OpcuaVisitor,
  type ResolvedDevice,
} from '../../../device-models/index.js';

export type OpcuaDevice = ResolvedDevice<OpcuaConfig, OpcuaVisitor>;

const samples = new URL('../../../device-models/samples/', import.meta.url).pathname;

/** The OPC UA sample tank as shipped in device-models/samples, resolved. */
export async function sampleTank(): Promise<OpcuaDevice> {
  const { devices } = await loadDevices([`${samples}opcua-tank.yaml`]);
  const device = devices.find((d) => d.name === 'tank-01');
  if (!device) throw new Error('no OPC UA sample device tank-01');
  return device as OpcuaDevice;
}
