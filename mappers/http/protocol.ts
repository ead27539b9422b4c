import { defineRegistration } from '../../sdk/index.js';
import { http } from './schema.js';

/**
 * REST/JSON devices (sensors, PLC web servers, Shelly/Tasmota-style plugs) over Node's own fetch: nothing
 * to load but the driver itself, imported when the first http device starts.
 */
export const httpProtocol = defineRegistration({
  ...http,
  loadDriver: async () => (await import('./index.js')).httpMapper,
  async createSimulator(device, options) {
    const { createHttpSimulator } = await import('./simulator.js');
    const simulator = createHttpSimulator(device as never, {
      port: options.port ?? 'device',
      ...(options.host ? { host: options.host } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    return { reached: await simulator.start(), stop: () => simulator.stop() };
  },
});
