import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadDevices,
  type ModbusConfig,
  type ModbusVisitor,
  type ResolvedDevice,
} from '../../device-models/index.js';
import { createModbusSimulator, type ModbusSimulator } from '../../mappers/modbus/simulator.js';

/** The sample thermostat (Modbus TCP), as edgecore tests wire it. */
export const THERMOSTAT_SAMPLE = new URL(
  '../../device-models/samples/modbus-tcp-thermostat.yaml',
  import.meta.url,
).pathname;

/** A temporary devices directory holding the sample thermostat, and its simulator on a port of its own. */
export interface ThermostatDir {
  dir: string;
  simulator: ModbusSimulator;
  /** Stops the simulator and removes the directory. */
  remove(): Promise<void>;
}

/**
 * Starts the thermostat's simulator on port 0 and writes the sample, pointed at that port, into a new
 * temporary directory (`prefix`…): what edgecore's integration tests run against.
 */
export async function thermostatDir(prefix: string): Promise<ThermostatDir> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const device = (await loadDevices([THERMOSTAT_SAMPLE])).devices[0] as ResolvedDevice<
    ModbusConfig,
    ModbusVisitor
  >;
  const simulator = createModbusSimulator(device, { transport: { kind: 'tcp', port: 0 } });
  const { port } = await simulator.start();
  await writeFile(
    join(dir, 'thermostat.yaml'),
    (await readFile(THERMOSTAT_SAMPLE, 'utf8')).replace(/port: \d+/, `port: ${port}`),
  );
  return {
    dir,
    simulator,
    async remove() {
      await simulator.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
