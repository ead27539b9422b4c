/**
 * edgetwin/device-models: the KubeEdge v1beta1 device API as schemas (DeviceModel, Device, DeviceStatus) and
 * the types inferred from them, the EventBus payloads, the built-in protocols' config and visitor schemas and
 * the helpers to write one's own, and validation of YAML/JSON files into resolved devices. The repo's own code
 * imports everything else from `device-models/internal.ts`.
 */

export { DeviceModelError, EdgetwinError, TwinValueError } from './errors.js';
export {
  BaseMessage,
  DataUpdate,
  DataValue,
  DeviceStateName,
  ErrorResult,
  MembershipDevice,
  MembershipGet,
  MembershipGetResult,
  MembershipUpdated,
  MsgAttr,
  MsgTwin,
  MsgTwinMap,
  MsgTwinValue,
  MsgTwinVersion,
  STATE_UPDATE_STATES,
  StateUpdate,
  StateUpdateResult,
  type StateUpdateState,
  TwinDelta,
  TwinDocEntry,
  TwinDocument,
  TwinGet,
  TwinGetResult,
  TwinTypeMetadata,
  TwinUpdate,
  TwinUpdateResult,
  TwinValueType,
} from './eventbus.js';
export { BleConfig, BleVisitor, ble } from './protocols/ble.js';
export { registerProtocol } from './protocols/index.js';
export {
  ModbusConfig,
  type ModbusDataType,
  type ModbusRegister,
  ModbusVisitor,
  modbus,
} from './protocols/modbus.js';
export { OpcuaConfig, OpcuaVisitor, opcua } from './protocols/opcua.js';
export { SerialConfig, SerialVisitor, serial } from './protocols/serial.js';
export {
  defineProtocol,
  type Finding,
  type ProtocolDefinition,
  type ProtocolSchemas,
} from './protocols/types.js';
export type { ResolvedDevice, ResolvedProperty } from './resolved.js';
export {
  Boolish,
  Closed,
  FreeForm,
  FreeFormOf,
  Numeric,
  type NumericOptions,
  Open,
  StringEnum,
} from './schema/common.js';
export {
  Device,
  DeviceProperty,
  DeviceSpec,
  ProtocolConfig,
  PushMethod,
  TwinProperty,
} from './schema/device.js';
export {
  API_GROUP,
  API_VERSION,
  DeviceModel,
  type ModelProperty,
  PROPERTY_TYPES,
  PropertyType,
} from './schema/device-model.js';
export { DEVICE_STATES, type DeviceState, DeviceStatus, Twin } from './schema/device-status.js';
export type { ReportStrategy } from './schema/report.js';
export {
  type CheckOptions,
  formatProblem,
  fromValue,
  loadDevices,
  type Problem,
  type Severity,
  type SourceObject,
  type ValidateOptions,
  type ValidationResult,
  validateFiles,
  validateObjects,
} from './validate/index.js';
export { formatTwinValue, type Parsed, parseTwinValue, type TwinValue } from './values.js';
