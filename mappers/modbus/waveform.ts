import type { ModelProperty } from '../../device-models/index.js';

/**
 * Deterministic signals for simulated ReadOnly properties. A waveform is a pure function of the elapsed
 * time, so a simulator needs no timers: it evaluates the wave when a request arrives, and the same seed
 * gives the same values at the same instants.
 */

export interface Range {
  min: number;
  max: number;
}

/** Model bounds used when a property gives neither minimum nor maximum. */
export const DEFAULT_RANGE: Range = { min: 0, max: 100 };
const DEFAULT_SPAN = DEFAULT_RANGE.max - DEFAULT_RANGE.min;

/** 32-bit FNV-1a of `key`, mixed with `seed`: a per-property seed that does not depend on property order. */
export function seedFor(seed: number, key: string): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** mulberry32: a small, fast, seedable generator of numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SineOptions extends Range {
  periodMs: number;
  /** Radians. */
  phase?: number;
  /** Fraction of the half range the wave swings through (default 0.8, keeping clear of the bounds). */
  depth?: number;
}

/** A sine centred in the range. */
export function sine(options: SineOptions): (elapsedMs: number) => number {
  const middle = (options.min + options.max) / 2;
  const amplitude = ((options.max - options.min) / 2) * (options.depth ?? 0.8);
  const phase = options.phase ?? 0;
  return (elapsedMs) => middle + amplitude * Math.sin((2 * Math.PI * elapsedMs) / options.periodMs + phase);
}

/** On for the first half of each period, off for the second, shifted by `phase` (0–1 of a period). */
export function square(periodMs: number, phase = 0): (elapsedMs: number) => boolean {
  return (elapsedMs) => {
    const position = (elapsedMs / periodMs + phase) % 1;
    return (position + 1) % 1 < 0.5;
  };
}

/**
 * The range a simulated property moves in: the model's minimum/maximum (one bound alone extends by the
 * default span), narrowed to what the register can represent.
 */
export function propertyRange(property: ModelProperty, representable?: Range): Range {
  const min = property.minimum === undefined ? undefined : Number(property.minimum);
  const max = property.maximum === undefined ? undefined : Number(property.maximum);
  let range: Range;
  if (min !== undefined && max !== undefined) range = { min, max };
  else if (min !== undefined) range = { min, max: min + DEFAULT_SPAN };
  else if (max !== undefined) range = { min: max - DEFAULT_SPAN, max };
  else range = { ...DEFAULT_RANGE };
  if (!representable) return range;
  const narrowed = {
    min: Math.max(range.min, representable.min),
    max: Math.min(range.max, representable.max),
  };
  return narrowed.min <= narrowed.max ? narrowed : representable;
}

/** A seeded waveform for one property: numeric properties get a sine, BOOLEAN ones a square wave. */
export function waveFor(
  property: ModelProperty,
  seed: number,
  representable?: Range,
): (elapsedMs: number) => number | boolean {
  const random = seededRandom(seedFor(seed, property.name));
  const periodMs = 10_000 + Math.floor(random() * 50_000);
  if (property.type === 'BOOLEAN') return square(periodMs, random());
  const wave = sine({ ...propertyRange(property, representable), periodMs, phase: random() * 2 * Math.PI });
  return property.type === 'INT' ? (t) => Math.round(wave(t)) : wave;
}
