import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildCrds, crdFileName, crdsYaml, crdYaml } from '../../device-models/internal.js';
import type { Output } from './output.js';

/** `edgetwin crds`: prints the CRDs (for `kubectl apply -f -`), or writes one file per CRD with --out. */
export async function runCrds(options: { out?: string }, out: Output): Promise<number> {
  if (!options.out) {
    out.stdout(crdsYaml().trimEnd());
    return 0;
  }
  await mkdir(options.out, { recursive: true });
  for (const crd of buildCrds()) {
    const file = join(options.out, crdFileName(crd));
    await writeFile(file, crdYaml(crd));
    out.stderr(`wrote ${file}`);
  }
  return 0;
}
