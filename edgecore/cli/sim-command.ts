import { loadDevices, type ResolvedDevice } from '../../device-models/index.js';
import { ModbusLineError } from '../../mappers/modbus/errors.js';
import {
  modbusLineOf,
  type RunningModbusLine,
  simulatorNames,
  startModbusLines,
  startSimulator,
} from '../../mappers/simulators.js';
import { createCliLogger } from './log.js';
import type { Output } from './output.js';
import { protocolsWith } from './protocols.js';
import { untilSignal } from './signals.js';

export interface SimOptions {
  device?: string;
  host?: string;
  port?: number;
  rtu?: string;
  seed?: number;
  /** Protocols from other packages (npm names or paths). */
  plugin?: string[];
}

/**
 * `edgetwin sim <protocol> <files…>`: serves a device exactly as its YAML describes it, until Ctrl-C.
 * Modbus serves every device of the files, one simulated line per serial line or TCP endpoint they name.
 */
export async function runSim(
  protocol: string,
  paths: string[],
  options: SimOptions,
  out: Output,
): Promise<number> {
  const { plugin, ...simOptions } = options;
  const protocols = await protocolsWith(plugin, 'sim', out);
  if (!protocols) return 2;
  if (!simulatorNames(protocols).includes(protocol)) {
    out.stderr(
      `edgetwin: no simulator for protocol "${protocol}" (available: ${simulatorNames(protocols).join(', ')})`,
    );
    return 2;
  }
  const { devices } = await loadDevices(paths, { protocols });
  if (protocol === 'modbus') return runModbusSim(devices, paths, simOptions, out);
  const candidates = devices.filter(
    (d) => d.protocol === protocol && (!options.device || d.name === options.device),
  );
  const [device] = candidates;
  if (!device || candidates.length > 1) {
    out.stderr(
      device
        ? `edgetwin: several ${protocol} devices (${candidates.map((d) => d.name).join(', ')}): choose one with --device`
        : `edgetwin: no ${protocol} device${options.device ? ` named ${options.device}` : ''} in ${paths.join(', ')}`,
    );
    return 2;
  }
  const simulator = await startSimulator(device, { ...simOptions, log: createCliLogger() }, protocols);
  out.stdout(
    `${protocol} simulator for ${device.id}: ${JSON.stringify(simulator!.reached)} (Ctrl-C stops it)`,
  );
  await untilSignal();
  await simulator!.stop();
  return 0;
}

/** Modbus: one simulated line per line or endpoint; `--device` narrows to that device's own. */
async function runModbusSim(
  devices: ResolvedDevice[],
  paths: string[],
  options: SimOptions,
  out: Output,
): Promise<number> {
  let candidates = devices.filter((d) => d.protocol === 'modbus');
  const chosen = options.device ? candidates.find((d) => d.name === options.device) : candidates[0];
  if (!chosen) {
    out.stderr(
      `edgetwin: no modbus device${options.device ? ` named ${options.device}` : ''} in ${paths.join(', ')}`,
    );
    return 2;
  }
  if (options.device) candidates = candidates.filter((d) => modbusLineOf(d) === modbusLineOf(chosen));
  let lines: RunningModbusLine[];
  try {
    lines = await startModbusLines(candidates, { ...options, log: createCliLogger() });
  } catch (error) {
    if (!(error instanceof ModbusLineError)) throw error;
    const several = new Set(candidates.map(modbusLineOf)).size > 1;
    out.stderr(`edgetwin: ${error.message}${several ? '; choose one line with --device' : ''}`);
    return 2;
  }
  for (const { plan, reached } of lines) {
    const units = plan.devices.map((d) => `${d.name} (slaveID ${d.config.slaveID ?? 1})`).join(', ');
    out.stdout(`modbus ${plan.endpoint}: ${units}; a mapper reaches it with ${JSON.stringify(reached)}`);
  }
  out.stdout(`Ctrl-C stops ${lines.length === 1 ? 'it' : 'them'}`);
  await untilSignal();
  await Promise.all(lines.map((line) => line.stop()));
  return 0;
}
