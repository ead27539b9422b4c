/**
 * edgetwin/sdk/testing: what a mapper author's tests import — the conformance suite every mapper passes,
 * a driver context for driving a driver directly, a device built in code (no YAML), a real pty pair for serial
 * protocols, and topic watchers for EventBus tests.
 */
export {
  type ConformanceTarget,
  describeConformance,
  type SharedLine,
  type SimulatorHandle,
  type TypedWrite,
  type TypedWrites,
  type Unsupported,
} from './conformance.js';
export { driverContext } from './driver-context.js';
export { openPtyPair, type PtyPair, type PtyPairOptions } from './pty.js';
export { resolvedDevice } from './resolved-device.js';
export { type TopicWatcher, type WatchedMessage, watchTopics } from './watch-topics.js';
