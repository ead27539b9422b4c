import {
  loadDevices,
  type ResolvedDevice,
  type SerialConfig,
  type SerialVisitor,
} from '../../device-models/index.js';

export type SerialDevice = ResolvedDevice<SerialConfig, SerialVisitor>;

const samples = new URL('../../device-models/samples/', import.meta.url).pathname;

/** The sample scale as shipped in device-models/samples/serial-scale.yaml, resolved. */
export async function sampleScale(): Promise<SerialDevice> {
  const { devices } = await loadDevices([`${samples}serial-scale.yaml`]);
  const device = devices.find((d) => d.name === 'scale-01');
  if (!device) throw new Error('no serial sample device scale-01');
  return device as SerialDevice;
}
