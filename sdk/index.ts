/**
 * edgetwin/sdk: what a mapper author imports. A protocol implements `Driver` (connect/read/write/close/state);
 * the device runtime does everything else: cycles, reports, desired values, reconnects, state, push methods.
 * A protocol is one `ProtocolRegistration` (schemas, a lazily loaded driver, a simulator); `MapperHost` runs its
 * devices on an `EventBus`, in edgecore or in a mapper process of its own. The repo's own code imports
 * everything else from `sdk/internal.ts`.
 */

export { defineProtocol, type ProtocolDefinition } from '../device-models/protocols/types.js';
export {
  Boolish,
  Closed,
  FreeForm,
  FreeFormOf,
  Numeric,
  type NumericOptions,
  Open,
  StringEnum,
} from '../device-models/schema/common.js';
export type { TwinValue } from '../device-models/values.js';
export {
  type EmbeddedBroker,
  type EmbeddedBrokerOptions,
  startEmbeddedBroker,
} from './broker/embedded-broker.js';
export {
  decodeRegisters,
  encodeRegisters,
  fromTwin,
  type RegisterEncoding,
  registerCount,
  type TwinFormatOptions,
  toTwin,
} from './codecs/index.js';
export {
  type Driver,
  type DriverContext,
  type Point,
  type ProtocolMapper,
  type Quality,
  type Reading,
  readOneOf,
} from './driver.js';
export { DeviceUnavailable, ProtocolError, ProtocolTimeout, ValueOutOfRange } from './errors.js';
export {
  EventBus,
  EventBusError,
  type EventBusErrorCode,
  type EventBusOptions,
  EventBusRequestError,
  type PublishOptions,
  type SubscribeOptions,
  type TypedValue,
} from './eventbus/event-bus.js';
export * as topics from './eventbus/topics.js';
export { type Logger, silentLogger } from './logger.js';
export {
  defineRegistration,
  type LoadedDriver,
  loadProtocolMapper,
  type ProtocolRegistration,
  type RunningSimulator,
  type SimulatorOptions,
} from './registration.js';
export { abortable, abortReason, type Call, deadline, timed, withCall } from './runtime/call.js';
export { MapperHost, type MapperHostOptions, type MapperLoader } from './runtime/mapper-host.js';
export type { Connections, Opener, SharedConnection } from './runtime/shared-connection.js';
