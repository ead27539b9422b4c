import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../sdk/index.js';
import { silentLogger } from '../sdk/index.js';
import { ensurePrivateDir } from './private-dir.js';

describe('ensurePrivateDir', () => {
  let dir: string;
  const previousUmask = process.umask(0o022);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'private-dir-'));
  });
  afterAll(async () => {
    process.umask(previousUmask);
    await rm(dir, { recursive: true, force: true });
  });

  const mode = async (path: string) => (await stat(path)).mode & 0o777;
  function recording() {
    const warnings: [object | string, string | undefined][] = [];
    const log: Logger = { ...silentLogger, warn: (fields, msg) => void warnings.push([fields, msg]) };
    return { log, warnings };
  }

  it('creates a missing directory (and its parents) 0700 under umask 022, quietly', async () => {
    const { log, warnings } = recording();
    await ensurePrivateDir(join(dir, 'a', 'data'), log);
    expect(await mode(join(dir, 'a', 'data'))).toBe(0o700);
    expect(await mode(join(dir, 'a'))).toBe(0o700);
    expect(warnings).toEqual([]);
  });

  it('narrows an existing 0755 directory to 0700 and warns; leaves a 0700 one alone', async () => {
    const { log, warnings } = recording();
    const wide = join(dir, 'wide');
    await mkdir(wide);
    await chmod(wide, 0o755);
    await ensurePrivateDir(wide, log);
    expect(await mode(wide)).toBe(0o700);
    expect(warnings).toEqual([
      [{ dir: wide, was: '0755', now: '0700' }, 'data directory was open to other users; narrowed to 0700'],
    ]);
    await ensurePrivateDir(wide, log);
    expect(warnings).toHaveLength(1);
  });
});
