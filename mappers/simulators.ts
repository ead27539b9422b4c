import type { ModbusConfig } from '../device-models/protocols/modbus.js';
import type { ResolvedDevice } from '../device-models/resolved.js';
import type { ProtocolRegistration, RunningSimulator, SimulatorOptions } from '../sdk/registration.js';
import { builtInProtocols } from './builtin.js';
import { ModbusLineError } from './modbus/errors.js';
import type { ModbusDevice, ModbusSimulatorTransport } from './modbus/line-simulator.js';

export type { RunningSimulator, SimulatorOptions } from '../sdk/registration.js';

/** The protocols of a list (default: the built-in ones) that can simulate a device. */
export function simulatorNames(protocols: readonly ProtocolRegistration[] = builtInProtocols): string[] {
  return protocols.filter((p) => p.createSimulator).map((p) => p.protocol);
}

/**
 * Starts the simulator of a device's protocol (from the list, default the built-in ones), or returns
 * undefined when the protocol has none.
 */
export async function startSimulator(
  device: ResolvedDevice,
  options: SimulatorOptions = {},
  protocols: readonly ProtocolRegistration[] = builtInProtocols,
): Promise<RunningSimulator | undefined> {
  return protocols.find((p) => p.protocol === device.protocol)?.createSimulator?.(device, options);
}

/** The devices one simulated Modbus line serves, and how it is served. */
export interface ModbusLinePlan {
  /** The line or endpoint the devices name, e.g. `RTU /dev/ttyUSB0 on edge-1` or `TCP 10.0.0.5:502 on edge-1`. */
  endpoint: string;
  devices: ModbusDevice[];
  transport: ModbusSimulatorTransport;
}

/**
 * The serial line (`RTU <serialName>`) or TCP endpoint (`TCP <ip>:<port>`) a Modbus device names, on its
 * edge node: /dev/ttyUSB0 (or 127.0.0.1:502) on two nodes is two lines.
 */
export function modbusLineOf(device: ResolvedDevice): string {
  const config = device.config as ModbusConfig;
  const mode = config.communicateMode ?? (config.serialName && !config.ip ? 'RTU' : 'TCP');
  const where = mode === 'RTU' ? `RTU ${config.serialName}` : `TCP ${config.ip}:${config.port ?? 502}`;
  return `${where} on ${device.nodeName}`;
}

/**
 * Groups the Modbus devices by the line or endpoint they name: RTU devices on one `serialName` share one
 * simulated line (a pty pair of its own unless `rtu` is given), TCP devices on one `ip:port` share one TCP
 * port (`port` overrides it). `rtu` and a non-zero `port` name one line, so they need the devices on one.
 */
export function planModbusLines(
  devices: readonly ResolvedDevice[],
  options: SimulatorOptions = {},
): ModbusLinePlan[] {
  const groups = new Map<string, ModbusDevice[]>();
  for (const device of devices) {
    if (device.protocol !== 'modbus') continue;
    const endpoint = modbusLineOf(device);
    groups.set(endpoint, [...(groups.get(endpoint) ?? []), device as ModbusDevice]);
  }
  const fixed =
    options.rtu !== undefined
      ? `serial line ${options.rtu}`
      : options.port
        ? `port ${options.port}`
        : undefined;
  if (fixed && groups.size > 1)
    throw new ModbusLineError(
      `one ${fixed} cannot serve ${groups.size} lines (${[...groups.keys()].join(', ')})`,
    );
  return [...groups].map(([endpoint, members]) => ({
    endpoint,
    devices: members,
    transport: transportFor(endpoint, members, options),
  }));
}

function transportFor(
  endpoint: string,
  members: readonly ModbusDevice[],
  options: SimulatorOptions,
): ModbusSimulatorTransport {
  const rtu = options.rtu !== undefined || (endpoint.startsWith('RTU ') && options.port === undefined);
  if (!rtu)
    return {
      kind: 'tcp',
      host: options.host ?? '127.0.0.1',
      port: options.port ?? members[0]!.config.port ?? 502,
    };
  const rates = new Set(members.flatMap((d) => (d.config.baudRate === undefined ? [] : [d.config.baudRate])));
  if (rates.size > 1)
    throw new ModbusLineError(
      `the devices on ${endpoint} disagree on its baud rate (${members.map((d) => `${d.id}: ${d.config.baudRate ?? 'none'}`).join(', ')})`,
    );
  const [baudRate] = rates;
  return {
    kind: 'rtu',
    ...(options.rtu ? { path: options.rtu } : {}),
    ...(baudRate ? { baudRate } : {}),
  };
}

export interface RunningModbusLine extends RunningSimulator {
  plan: ModbusLinePlan;
}

/** Starts one simulated line per line or endpoint the Modbus devices name (see planModbusLines). */
export async function startModbusLines(
  devices: readonly ResolvedDevice[],
  options: SimulatorOptions = {},
): Promise<RunningModbusLine[]> {
  const plans = planModbusLines(devices, options);
  const { createModbusLineSimulator } = await import('./modbus/line-simulator.js');
  const running: RunningModbusLine[] = [];
  try {
    for (const plan of plans) {
      const line = createModbusLineSimulator(plan.devices, {
        transport: plan.transport,
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        ...(options.log ? { log: options.log } : {}),
      });
      running.push({ plan, reached: await line.start(), stop: () => line.stop() });
    }
  } catch (error) {
    await Promise.all(running.map((line) => line.stop()));
    throw error;
  }
  return running;
}
