/**
 * edgetwin/sdk/testing: what a mapper author's tests import — the conformance suite every mapper passes,
 * a driver context for driving a driver directly, a real pty pair for serial protocols, and topic watchers
 * for EventBus tests.
 */
export { type ConformanceTarget, describeConformance, type SimulatorHandle } from './conformance.js';
export { driverContext } from './driver-context.js';
export { openPtyPair, type PtyPair } from './pty.js';
export { type TopicWatcher, type WatchedMessage, watchTopics } from './watch-topics.js';
