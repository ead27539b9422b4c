export { applyUpdate, computeDelta, snapshot } from './rules.js';
export * from './types.js';
