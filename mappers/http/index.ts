import type { ProtocolMapper } from '../../sdk/index.js';
import { DEFAULT_TIMEOUT_MS, HttpDriver } from './driver.js';
import type { HttpConfig, HttpVisitor } from './schema.js';
import { http } from './schema.js';

/** The http mapper: one request per read (one per path in a batch), each within the config's `timeoutMs`. */
export const httpMapper: ProtocolMapper<typeof HttpConfig, typeof HttpVisitor> = {
  schemas: http,
  createDriver: () => new HttpDriver(),
  timeoutMs: (config) => config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
};

export { DEFAULT_TIMEOUT_MS, HttpDriver } from './driver.js';
export { assign, extract, fill, lookup, place, VALUE_PLACEHOLDER } from './json-pointer.js';
export { httpProtocol } from './protocol.js';
export { HttpConfig, HttpVisitor, http } from './schema.js';
export {
  createHttpSimulator,
  createHttpSimulator as createSimulator,
  type HttpFaults,
  type HttpRequestSeen,
  type HttpSimulator,
  type HttpSimulatorOptions,
} from './simulator.js';
