import { modbus } from '../../device-models/protocols/modbus.js';
import { defineRegistration } from '../../sdk/registration.js';
import type { ModbusDevice } from './line-simulator.js';

/**
 * Modbus TCP and RTU: KubeEdge's modbus visitor and connection schemas; the modbus-serial driver and the
 * simulator are imported only when a device (or `edgetwin sim`) needs them.
 */
export const modbusProtocol = defineRegistration({
  ...modbus,
  loadDriver: async () => (await import('./index.js')).modbusMapper,
  async createSimulator(device, options) {
    const [{ planModbusLines }, { createModbusSimulator }] = await Promise.all([
      import('../simulators.js'),
      import('./simulator.js'),
    ]);
    const [plan] = planModbusLines([device], options);
    const simulator = createModbusSimulator(device as ModbusDevice, {
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.log ? { log: options.log } : {}),
      transport: plan!.transport,
    });
    return { reached: await simulator.start(), stop: () => simulator.stop() };
  },
});
