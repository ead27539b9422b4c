import { serial } from '../../device-models/protocols/serial.js';
import { defineRegistration } from '../../sdk/registration.js';

/**
 * Serial line/regex devices (edgetwin's own; KubeEdge has none): serialport and the simulator are imported
 * only when a device (or `edgetwin sim`) needs them.
 */
export const serialProtocol = defineRegistration({
  ...serial,
  loadDriver: async () => (await import('./index.js')).serialMapper,
  async createSimulator(device, options) {
    const { createSerialSimulator } = await import('./simulator.js');
    const simulator = createSerialSimulator(device as never, {
      ...(options.rtu ? { path: options.rtu } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    return { reached: await simulator.start(), stop: () => simulator.stop() };
  },
});
