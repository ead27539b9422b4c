export * from './types.js';
export { applyUpdate, computeDelta, snapshot } from './rules.js';
