import type { ModbusConfig, OpcuaConfig, ResolvedDevice } from '../device-models/index.js';
import type { Logger } from '../sdk/index.js';

/** A simulator that is running, and the protocol config a mapper needs to reach it. */
export interface RunningSimulator {
  reached: Record<string, unknown>;
  stop(): Promise<void>;
}

export interface SimulatorOptions {
  host?: string;
  /** TCP port (0: any free one); default the device's own. */
  port?: number;
  /** Modbus RTU and serial: serve on this serial line; default a pty pair of its own (socat). */
  rtu?: string;
  seed?: number;
  log?: Logger;
}

type Starter = (device: ResolvedDevice, options: SimulatorOptions) => Promise<RunningSimulator>;

const portOf = (url: string) => Number(new URL(url.replace(/^opc\.tcp:/, 'http:')).port) || 4840;

/** Each protocol's simulator, loaded only when asked for (node-opcua is large). */
const starters: Record<string, () => Promise<Starter>> = {
  modbus: async () => {
    const { createModbusSimulator } = await import('./modbus/simulator.js');
    return async (device, options) => {
      const config = device.config as ModbusConfig;
      const rtu =
        options.rtu !== undefined || (config.communicateMode === 'RTU' && options.port === undefined);
      const simulator = createModbusSimulator(device as never, {
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        ...(options.log ? { log: options.log } : {}),
        transport: rtu
          ? {
              kind: 'rtu',
              ...(options.rtu ? { path: options.rtu } : {}),
              ...(config.baudRate ? { baudRate: config.baudRate } : {}),
            }
          : { kind: 'tcp', host: options.host ?? '127.0.0.1', port: options.port ?? config.port ?? 502 },
      });
      return { reached: await simulator.start(), stop: () => simulator.stop() };
    };
  },
  opcua: async () => {
    const { createOpcuaSimulator } = await import('./opcua/simulator.js');
    return async (device, options) => {
      const config = device.config as OpcuaConfig;
      const simulator = createOpcuaSimulator(device as never, {
        // 0: any free port, which the simulator picks (and keeps across restarts).
        ...(options.port === 0 ? {} : { port: options.port ?? portOf(config.url) }),
        ...(config.userName ? { userName: config.userName, password: config.password ?? '' } : {}),
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        ...(options.log ? { log: options.log } : {}),
      });
      return { reached: await simulator.start(), stop: () => simulator.stop() };
    };
  },
  serial: async () => {
    const { createSerialSimulator } = await import('./serial/simulator.js');
    return async (device, options) => {
      const simulator = createSerialSimulator(device as never, {
        ...(options.rtu ? { path: options.rtu } : {}),
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
        ...(options.log ? { log: options.log } : {}),
      });
      return { reached: await simulator.start(), stop: () => simulator.stop() };
    };
  },
};

export function builtInSimulatorNames(): string[] {
  return Object.keys(starters);
}

/** Starts the simulator of a device's protocol, or returns undefined when the protocol has none. */
export async function startBuiltInSimulator(
  device: ResolvedDevice,
  options: SimulatorOptions = {},
): Promise<RunningSimulator | undefined> {
  const load = starters[device.protocol];
  return load ? (await load())(device, options) : undefined;
}
