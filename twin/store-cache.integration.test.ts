import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * SQLite's page cache holds what the store is given (`cacheBytes`, edge.yaml `twin.cacheMB`), not the 16 MB
 * better-sqlite3 builds SQLite with: each run is a child process (against dist/: `npm test` builds first) that
 * writes ~12 MB of distinct rows and reads them back, and reports how much malloc's own heap grew.
 */
const filler = fileURLToPath(new URL('./testdata/cache-filler.mjs', import.meta.url));
const MB = 1024 * 1024;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-cache-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function grownWith(cacheBytes: number, name: string): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [
    filler,
    join(dir, name),
    String(cacheBytes),
  ]);
  return Number(stdout.trim());
}

describe('twin store page cache', () => {
  it('holds at most what it is given: malloc grows ~2 MB with a 2 MB cache, past 8 MB with 16 MB', async () => {
    const [bounded, large] = await Promise.all([
      grownWith(2 * MB, 'bounded.db'),
      grownWith(16 * MB, 'large.db'),
    ]);
    // The large cache shows that the rows written would fill one: what the bounded run leaves out is its bound.
    expect(large).toBeGreaterThan(8 * MB);
    expect(bounded).toBeLessThan(5 * MB);
  }, 60_000);
});
