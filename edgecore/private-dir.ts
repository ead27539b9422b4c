import { chmod, mkdir, stat } from 'node:fs/promises';
import type { Logger } from '../sdk/index.js';

/** The data directory holds the twin database and the node's key: owner-only. */
export const DATA_DIR_MODE = 0o700;

/**
 * Creates `dir` (and missing parents) owner-only; an existing one that others can read, write or enter is
 * narrowed to 0700, with a warning (it was made by an older edgetwin, or by hand).
 */
export async function ensurePrivateDir(dir: string, log: Logger): Promise<void> {
  await mkdir(dir, { recursive: true, mode: DATA_DIR_MODE });
  const { mode } = await stat(dir);
  if ((mode & 0o077) === 0) return;
  await chmod(dir, DATA_DIR_MODE);
  log.warn(
    { dir, was: `0${(mode & 0o777).toString(8)}`, now: '0700' },
    'data directory was open to other users; narrowed to 0700',
  );
}
