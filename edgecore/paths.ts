import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root folder, whether running from TypeScript sources or from dist/. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'device-models', 'samples'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the edgetwin package root');
    dir = parent;
  }
  return dir;
}

export const samplesDir = (): string => join(packageRoot(), 'device-models', 'samples');
