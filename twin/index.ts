export { applyUpdate, computeDelta, deltaTwins, snapshot } from './rules.js';
export * from './types.js';
