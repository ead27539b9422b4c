/**
 * edgetwin/sdk: what a mapper author imports. A protocol implements `Driver` (connect/read/write/close/state);
 * the device runtime does everything else: cycles, reports, desired values, reconnects, state, push methods.
 */

export type { BrokerAccess, BrokerPrincipal } from './broker/access.js';
export {
  EMBEDDED_BROKER_PORT,
  type EmbeddedBroker,
  type EmbeddedBrokerOptions,
  startEmbeddedBroker,
} from './broker/embedded-broker.js';
export {
  type EventBusAccount,
  type EventBusPrincipal,
  type EventBusRole,
  eventBusAcl,
  openEventBusAcl,
} from './broker/event-bus-acl.js';
export { LocalTransport } from './broker/local-transport.js';
export {
  decodeRegisters,
  encodeRegisters,
  fromTwin,
  type RegisterEncoding,
  registerCount,
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
  type PublishOptions,
  type SubscribeOptions,
  type TypedValue,
} from './eventbus/event-bus.js';
export * as topics from './eventbus/topics.js';
export type { BusTransport, TransportEvents } from './eventbus/transport.js';
export { type Logger, silentLogger } from './logger.js';
export type { Pusher, PushSample } from './push/index.js';
export { type BackoffOptions, backoffDelay } from './runtime/backoff.js';
export { abortable, abortReason, type Call, deadline, timed, withCall } from './runtime/call.js';
export {
  ConnectionPool,
  type Opener,
  type SharedConnection,
  sharedConnections,
} from './runtime/connection-pool.js';
export type { DeviceBus, ReportedValue } from './runtime/device-bus.js';
export { DeviceRuntime, type DeviceRuntimeOptions, type RuntimeState } from './runtime/device-runtime.js';
export { MapperHost, type MapperHostOptions, type MapperLoader } from './runtime/mapper-host.js';
export { type LastReport, shouldReport } from './runtime/report-filter.js';
export { SerialQueue } from './runtime/serial-queue.js';
export { type CycleOutcome, cycleOutcome, OFFLINE_AFTER_TIMEOUTS } from './runtime/state-policy.js';
