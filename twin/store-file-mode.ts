import { chmodSync, closeSync, openSync } from 'node:fs';

/** The twin database holds device config (and its history): owner-only, as ssh keys are. */
export const DB_FILE_MODE = 0o600;

const inMemory = (path: string) => path === '' || path === ':memory:' || path.startsWith('file::memory:');

/**
 * Creates the database file owner-only before SQLite opens it, and narrows an existing one. SQLite gives the
 * `-wal` and `-shm` files it creates the mode of the database file, so they follow.
 */
export function createPrivateDbFile(path: string): void {
  if (inMemory(path)) return;
  closeSync(openSync(path, 'a', DB_FILE_MODE));
  chmodSync(path, DB_FILE_MODE);
}

/** Narrows `-wal` and `-shm` files left by an earlier, laxer edgetwin (SQLite keeps their mode once made). */
export function restrictDbSidecars(path: string): void {
  if (inMemory(path)) return;
  for (const suffix of ['-wal', '-shm']) {
    try {
      chmodSync(`${path}${suffix}`, DB_FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}
