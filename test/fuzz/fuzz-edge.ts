import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { edgeConfig } from '../../edgecore/config.js';
import { EdgeCore } from '../../edgecore/edgecore.js';
import { deviceYaml } from '../faults/edge-process.js';
import { FUZZ_DEVICE } from './arbitraries.js';

/** An in-process edgecore the fuzz drives, and how to remove it. */
export interface FuzzEdge {
  edge: EdgeCore;
  dir: string;
  stop(): Promise<void>;
}

/**
 * edgecore with the fuzz device in a temporary directory (`prefix`…), its broker and HTTP API on port 0. The
 * broker takes anonymous clients (auth: none), who may publish anything but the edge's outputs: the fuzz
 * reaches every input.
 */
export async function startFuzzEdge(prefix: string): Promise<FuzzEdge> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await writeFile(join(dir, 'device.yaml'), deviceYaml(FUZZ_DEVICE));
  const edge = new EdgeCore({
    config: edgeConfig({
      dataDir: join(dir, 'data'),
      eventBus: { internal: { port: 0, auth: 'none' } },
      http: { port: 0 },
      devices: { dirs: [dir], watch: false },
    }),
  });
  await edge.start();
  return {
    edge,
    dir,
    async stop() {
      await edge.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
