import { join } from 'node:path';
import {
  examplesDir,
  loadDevices,
  type ModbusConfig,
  type ModbusVisitor,
  type ResolvedDevice,
} from '../../../device-models/internal.js';

type ModbusDevice = ResolvedDevice<ModbusConfig, ModbusVisitor>;

/**
 * The example plant (device-models/examples/modbus-line): the four meters on one RS-485 line (`meter-`) or the
 * four behind one TCP gateway (`gw-meter-`), with faster cycles for tests and `reach` merged into each config.
 */
export async function examplePlant(
  prefix: 'meter-' | 'gw-meter-',
  options: { reach?: Partial<ModbusConfig>; timeoutMs?: number; cycleMs: number },
): Promise<ModbusDevice[]> {
  const { devices } = await loadDevices([join(examplesDir(), 'modbus-line')]);
  return (devices as ModbusDevice[])
    .filter((d) => d.name.startsWith(prefix))
    .map((d) => ({
      ...d,
      config: {
        ...d.config,
        ...options.reach,
        ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
      },
      properties: d.properties.map((p) => ({
        ...p,
        collectCycle: options.cycleMs,
        reportCycle: options.cycleMs,
      })),
    }));
}
