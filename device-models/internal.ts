/**
 * The device models as the repo's own code (edgecore, cloudcore, the SDK, the CLI, tests and benchmarks)
 * imports them: everything `edgetwin/device-models` exports and the internals behind it (the ajv instance, the
 * cloud hub's messages, CRD generation, sample files, Modbus read planning, twin value rules), which are not
 * part of the package's API and may change without notice.
 */
export { ajv, validatorFor } from './ajv.js';
export * from './crds.js';
export * from './errors.js';
export * from './eventbus.js';
export * from './hub.js';
export * from './property-info.js';
export * from './protocols/ble.js';
export {
  asDefinition,
  BUILT_IN_SCHEMAS,
  defineProtocol,
  type Finding,
  getProtocol,
  type ProtocolDefinition,
  type ProtocolLookup,
  type ProtocolSchemas,
  protocolLookup,
  protocolNames,
  registeredProtocols,
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
export { setOwn } from './set-own.js';
export * from './validate/index.js';
export * from './values.js';
