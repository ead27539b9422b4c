import { type OpcuaConfig, type OpcuaVisitor, opcua } from '../../device-models/index.js';
import type { ProtocolMapper } from '../../sdk/driver.js';
import { DEFAULT_TIMEOUT_MS, OpcuaDriver } from './driver.js';

/** The OPC UA mapper: KubeEdge's opcua visitor and connection schemas, and a node-opcua-client driver. */
export const opcuaMapper: ProtocolMapper<typeof OpcuaConfig, typeof OpcuaVisitor> = {
  schemas: opcua,
  createDriver: (context) => new OpcuaDriver(context),
  timeoutMs: (config) => config.timeout ?? DEFAULT_TIMEOUT_MS,
};

export { DEFAULT_PKI_DIR, OpcuaDriver, SAMPLING_INTERVAL_MS } from './driver.js';
export {
  createOpcuaSimulator,
  createOpcuaSimulator as createSimulator,
  type OpcuaFaults,
  type OpcuaSimulator,
  type OpcuaSimulatorOptions,
} from './simulator.js';
