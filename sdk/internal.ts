/**
 * The SDK as the repo's own code (edgecore, cloudcore, the CLI, tests and benchmarks) imports it: the public
 * entry point (`edgetwin/sdk`) and the internals behind it, which are not part of the package's API and may
 * change without notice. Mapper authors import `edgetwin/sdk`.
 */

export type { BrokerAccess, BrokerPrincipal } from './broker/access.js';
export { EMBEDDED_BROKER_PORT } from './broker/embedded-broker.js';
export {
  type EventBusAccount,
  type EventBusAclOptions,
  type EventBusPrincipal,
  type EventBusRole,
  eventBusAcl,
  openEventBusAcl,
} from './broker/event-bus-acl.js';
export { LocalTransport } from './broker/local-transport.js';
export type { BusTransport, TransportEvents } from './eventbus/transport.js';
export { LOOPBACK_HOSTS, parseHost } from './http-host.js';
export * from './index.js';
export { createPusher, type Pusher, type PushSample } from './push/index.js';
export { isRegistration } from './registration.js';
export { type BackoffOptions, backoffDelay } from './runtime/backoff.js';
export { ConnectionPool, sharedConnections } from './runtime/connection-pool.js';
export type { DeviceBus, ReportedValue } from './runtime/device-bus.js';
export { DeviceRuntime, type DeviceRuntimeOptions, type RuntimeState } from './runtime/device-runtime.js';
export { type LastReport, shouldReport } from './runtime/report-filter.js';
export { SerialQueue } from './runtime/serial-queue.js';
export { type CycleOutcome, cycleOutcome, OFFLINE_AFTER_TIMEOUTS } from './runtime/state-policy.js';
export { CycleClock } from './runtime/timers.js';
