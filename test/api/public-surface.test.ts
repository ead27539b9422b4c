import { readFile, writeFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { publicSurface } from './surface.js';

/**
 * The public entry points' declarations, compared with the committed snapshot (`public-surface.txt`), so
 * that a change of what mapper authors and apps import shows in review. After a deliberate change:
 * `UPDATE_PUBLIC_SURFACE=1 npx vitest run test/api` writes the snapshot again.
 */
const snapshot = new URL('./public-surface.txt', import.meta.url);

it('the public surface of edgetwin/sdk, edgetwin/sdk/testing and edgetwin/device-models is the committed one', async () => {
  const current = await publicSurface();
  if (process.env.UPDATE_PUBLIC_SURFACE) await writeFile(snapshot, current);
  const committed = await readFile(snapshot, 'utf8').catch(() => '');
  expect(
    current,
    'the public surface changed: review it, then UPDATE_PUBLIC_SURFACE=1 npx vitest run test/api',
  ).toBe(committed);
}, 60_000);
