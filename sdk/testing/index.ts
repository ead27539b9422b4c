/**
 * edgetwin/sdk/testing: what a mapper author's tests import — the conformance suite every mapper passes,
 * a real pty pair for serial protocols, and the embedded broker for EventBus tests.
 */
export { type ConformanceTarget, describeConformance, type SimulatorHandle } from './conformance.js';
export { openPtyPair, type PtyPair } from './pty.js';
export { type TopicWatcher, type WatchedMessage, watchTopics } from './watch-topics.js';
