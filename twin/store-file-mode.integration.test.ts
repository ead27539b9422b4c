import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwinStore } from './store.js';

/** The twin database and its WAL files are owner-only, whatever the umask and whatever an older run left. */
describe('twin store file modes', () => {
  let dir: string;
  const previousUmask = process.umask(0o022);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twin-store-mode-'));
  });
  afterAll(async () => {
    process.umask(previousUmask);
    await rm(dir, { recursive: true, force: true });
  });

  const mode = async (path: string) => (await stat(path)).mode & 0o777;

  it('creates edgetwin.db, -wal and -shm 0600 under umask 022', async () => {
    const file = join(dir, 'new.db');
    const store = TwinStore.open(file);
    store.upsertDevice({ id: 'default/a' });
    for (const path of [file, `${file}-wal`, `${file}-shm`])
      expect([path, await mode(path)]).toEqual([path, 0o600]);
    store.close();
  });

  it('narrows a database and WAL files left 0644 by an earlier run', async () => {
    const file = join(dir, 'old.db');
    const first = TwinStore.open(file);
    first.upsertDevice({ id: 'default/a' });
    // An older edgetwin left them world-readable; copies of the WAL files made then keep that mode.
    for (const path of [file, `${file}-wal`, `${file}-shm`]) await chmod(path, 0o644);
    const again = TwinStore.open(file);
    for (const path of [file, `${file}-wal`, `${file}-shm`])
      expect([path, await mode(path)]).toEqual([path, 0o600]);
    expect(again.device('default/a')).toBeDefined();
    again.close();
    first.close();
  });

  it('opens an empty file made for it as a new database', async () => {
    const file = join(dir, 'empty.db');
    await writeFile(file, '', { mode: 0o644 });
    const store = TwinStore.open(file);
    expect(await mode(file)).toBe(0o600);
    store.close();
  });
});
