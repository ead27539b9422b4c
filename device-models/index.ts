/**
 * edgetwin/device-models: the KubeEdge v1beta1 device API as schemas, the types inferred from them,
 * per-protocol visitor schemas, twin value rules, and validation of YAML/JSON files.
 */
export { ajv, validatorFor } from './ajv.js';
export * from './crds.js';
export * from './errors.js';
export * from './eventbus.js';
export * from './hub.js';
export * from './protocols/ble.js';
export {
  defineProtocol,
  type Finding,
  getProtocol,
  type ProtocolSchemas,
  protocolNames,
  registerProtocol,
} from './protocols/index.js';
export * from './protocols/modbus.js';
export * from './protocols/modbus-plan.js';
export * from './protocols/modbus-rtu-timing.js';
export * from './protocols/opcua.js';
export * from './protocols/serial.js';
export * from './resolved.js';
export * from './sample-files.js';
export * from './schema/common.js';
export * from './schema/device.js';
export * from './schema/device-model.js';
export * from './schema/device-status.js';
export * from './schema/report.js';
export * from './secret-refs.js';
export * from './validate/index.js';
export * from './values.js';
