import {
  loadSampleDevice,
  type ModbusConfig,
  type ModbusVisitor,
  type ResolvedDevice,
} from '../../device-models/index.js';
import { describeConformance } from '../../sdk/testing/index.js';
import { modbusMapper } from './index.js';
import { createModbusSimulator, type ModbusSimulator, type ModbusSimulatorTransport } from './simulator.js';

type ModbusDevice = ResolvedDevice<ModbusConfig, ModbusVisitor>;
const sampleDevice = (name: string) => loadSampleDevice<ModbusConfig, ModbusVisitor>(name);

/** The conformance suite on the sample devices as shipped: the thermostat over TCP and RTU, the meter over RTU. */

const TIMEOUT_MS = 300;

function conformance(name: string, device: ModbusDevice, kind: 'tcp' | 'rtu') {
  let current: ModbusSimulator | undefined;
  let reached: Partial<ModbusConfig> | undefined;
  describeConformance({
    name: `${name} (sample ${device.name})`,
    mapper: modbusMapper as never,
    device: device as ResolvedDevice,
    timeoutMs: TIMEOUT_MS,
    async startSimulator() {
      // A restart comes back on the same TCP port, or the same serial line.
      const transport: ModbusSimulatorTransport =
        kind === 'tcp' ? { kind, port: reached?.port ?? 0 } : { kind: 'rtu' };
      current = createModbusSimulator(device, { transport, seed: 1 });
      const simulator = current;
      reached = await simulator.start();
      return { config: { ...reached, timeout: TIMEOUT_MS }, stop: () => simulator.stop() };
    },
    setSilent(silent) {
      if (current) current.faults.drop = silent;
    },
  });
}

conformance('modbus over TCP', await sampleDevice('thermostat-01'), 'tcp');
conformance('modbus over RTU', await sampleDevice('thermostat-01'), 'rtu');
conformance('modbus over RTU', await sampleDevice('energy-meter-01'), 'rtu');
