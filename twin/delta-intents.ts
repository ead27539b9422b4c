import type { DeviceTwins } from './types.js';

/**
 * What a delta asks of a device: per property in it, the expected value and the desired version
 * (`expected_version`) it belongs to. Two deltas with the same intents ask for the same writes, however many
 * reports came between them; the same value under a new version (a second `tare: true`) is a new intent.
 */
export type DeltaIntents = ReadonlyMap<string, string>;

export function deltaIntents(twins: DeviceTwins, delta: Readonly<Record<string, string>>): DeltaIntents {
  return new Map(
    Object.entries(delta).map(([name, value]) => {
      const version = Object.hasOwn(twins, name) ? twins[name]?.expected_version : undefined;
      return [name, JSON.stringify([value, version?.cloud ?? 0, version?.edge ?? 0])];
    }),
  );
}

export function sameIntents(a: DeltaIntents, b: DeltaIntents): boolean {
  if (a.size !== b.size) return false;
  for (const [name, intent] of a) if (b.get(name) !== intent) return false;
  return true;
}
