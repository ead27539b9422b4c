import { type OpcuaConfig, opcua } from '../../device-models/protocols/opcua.js';
import { defineRegistration } from '../../sdk/registration.js';

const portOf = (url: string) => Number(new URL(url.replace(/^opc\.tcp:/, 'http:')).port) || 4840;

/**
 * OPC UA: KubeEdge's opcua visitor and connection schemas. node-opcua (~70 MB) is imported only when a device
 * runs (the driver) or is simulated: validating an OPC UA device never loads it.
 */
export const opcuaProtocol = defineRegistration({
  ...opcua,
  loadDriver: async () => (await import('./index.js')).opcuaMapper,
  async createSimulator(device, options) {
    const { createOpcuaSimulator } = await import('./simulator.js');
    const config = device.config as OpcuaConfig;
    const simulator = createOpcuaSimulator(device as never, {
      // 0: any free port, which the simulator picks (and keeps across restarts).
      ...(options.port === 0 ? {} : { port: options.port ?? portOf(config.url) }),
      ...(config.userName ? { userName: config.userName, password: config.password ?? '' } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    return { reached: await simulator.start(), stop: () => simulator.stop() };
  },
});
