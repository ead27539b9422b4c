import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ResolvedDevice } from './resolved.js';
import { loadDevices } from './validate/index.js';

/** The sample devices shipped with the package (`device-models/samples`), found from the sources or from dist/. */
export function samplesDir(): string {
  return packageDir('samples');
}

/** Example plants (`device-models/examples`, e.g. `modbus-line`): not run by the demo, unlike the samples. */
export function examplesDir(): string {
  return packageDir('examples');
}

function packageDir(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'device-models', name))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find device-models/${name} in the edgetwin package`);
    dir = parent;
  }
  return join(dir, 'device-models', name);
}

/** A sample device by name (e.g. 'thermostat-01'), validated and resolved with its model. */
export async function loadSampleDevice<C = Record<string, unknown>, V = Record<string, unknown>>(
  name: string,
): Promise<ResolvedDevice<C, V>> {
  const { devices } = await loadDevices([samplesDir()]);
  const device = devices.find((d) => d.name === name);
  if (!device) throw new Error(`no sample device "${name}" in ${samplesDir()}`);
  return device as ResolvedDevice<C, V>;
}
