import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { dashboardDir, dashboardSourceDir } from './assets.js';

/** One file the page loads, with its size as sent and gzipped. */
export interface BuiltAsset {
  name: string;
  bytes: number;
  gzipBytes: number;
}

/** The files the page loads (the licence text beside them is not one). */
export const PAGE_ASSETS = ['index.html', 'app.js', 'app.css'];

/** The libraries bundled into app.js, whose licences (MIT) go beside it. */
const BUNDLED = ['preact', 'uplot'];

/** THIRD-PARTY-LICENSES.txt: each bundled library's name, version and LICENSE file. */
async function licences(): Promise<string> {
  const require = createRequire(import.meta.url);
  const parts = await Promise.all(
    BUNDLED.map(async (name) => {
      const dir = dirname(require.resolve(`${name}/package.json`));
      const { version } = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
        version: string;
      };
      return `${name} ${version}\n\n${(await readFile(join(dir, 'LICENSE'), 'utf8')).trim()}\n`;
    }),
  );
  return parts.join(`\n${'-'.repeat(72)}\n\n`);
}

/**
 * Bundles the dashboard (main.tsx with Preact, uPlot and the CSS) minified into `outDir`: index.html, app.js,
 * app.css, and THIRD-PARTY-LICENSES.txt for the bundled libraries. Nothing is loaded from elsewhere, so the
 * page works offline.
 */
export async function buildDashboard(outDir = dashboardDir()): Promise<BuiltAsset[]> {
  const src = dashboardSourceDir();
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: { app: join(src, 'main.tsx') },
    outdir: outDir,
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    platform: 'browser',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    // Licence texts go to THIRD-PARTY-LICENSES.txt, not into the page's assets.
    legalComments: 'external',
    banner: { js: '/*! edgetwin dashboard. Bundles Preact and uPlot (MIT): see THIRD-PARTY-LICENSES.txt */' },
    logLevel: 'warning',
  });
  await copyFile(join(src, 'index.html'), join(outDir, 'index.html'));
  await writeFile(join(outDir, 'THIRD-PARTY-LICENSES.txt'), await licences());
  const names = (await readdir(outDir)).sort();
  return Promise.all(
    names
      .filter((name) => PAGE_ASSETS.includes(name))
      .map(async (name) => {
        const bytes = await readFile(join(outDir, name));
        return { name, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
      }),
  );
}

/** `node dist/edgecore/dashboard/build.js` (the end of `npm run build`): builds and prints the sizes. */
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const assets = await buildDashboard();
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  const total = assets.reduce((sum, a) => sum + a.gzipBytes, 0);
  const list = assets.map((a) => `${a.name} ${kb(a.bytes)} (${kb(a.gzipBytes)} gzip)`).join(', ');
  console.log(`dashboard: ${list}; ${kb(total)} gzipped in all → ${dashboardDir()}`);
}
