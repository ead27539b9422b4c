/**
 * edgetwin/sdk: what a mapper author imports. A protocol implements `Driver` (connect/read/write/close/state);
 * the device runtime does everything else: cycles, reports, desired values, reconnects, state, push methods.
 */
export type { Driver, DriverContext, DriverState, Point, ProtocolMapper, Quality, Reading } from './driver.js';
export { type Logger, silentLogger } from './logger.js';
export { type BackoffOptions, backoffDelay } from './runtime/backoff.js';
export type { DeviceBus, ReportedValue } from './runtime/device-bus.js';
export { DeviceRuntime, type DeviceRuntimeOptions, type RuntimeState } from './runtime/device-runtime.js';
export { type MapperLoader, MapperHost, type MapperHostOptions } from './runtime/mapper-host.js';
export type { PushSample, Pusher } from './push/index.js';
