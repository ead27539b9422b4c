import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard, PAGE_ASSETS } from './build.js';

/** Namespace names in Preact's and uPlot's code: identifiers the DOM needs, never fetched. */
const XML_NAMESPACES = new Set([
  'http://www.w3.org/2000/svg',
  'http://www.w3.org/1999/xhtml',
  'http://www.w3.org/1999/xlink',
  'http://www.w3.org/1998/Math/MathML',
  'http://www.w3.org/XML/1998/namespace',
]);

describe('the dashboard build', () => {
  let dir: string;
  const files = new Map<string, Buffer>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-dashboard-'));
    await buildDashboard(dir);
    for (const name of PAGE_ASSETS) files.set(name, await readFile(join(dir, name)));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is under 100 KB gzipped in all (index.html, app.js, app.css)', () => {
    const sizes = Object.fromEntries([...files].map(([name, bytes]) => [name, gzipSync(bytes).length]));
    const total = Object.values(sizes).reduce((a, b) => a + b, 0);
    expect(Object.keys(sizes).sort()).toEqual(['app.css', 'app.js', 'index.html']);
    expect(total, `gzipped sizes: ${JSON.stringify(sizes)}`).toBeLessThan(100 * 1024);
  });

  it('references no URL outside its own origin, so it works offline', () => {
    for (const [name, bytes] of files) {
      const text = bytes.toString('utf8');
      const urls = [...text.matchAll(/https?:\/\/[^\s"'`)<>\\]*/g)].map((m) => m[0]);
      expect(
        urls.filter((url) => !XML_NAMESPACES.has(url)),
        name,
      ).toEqual([]);
      // Protocol-relative URLs (//cdn.example/…) in markup or CSS would leave the origin too.
      expect(text, name).not.toMatch(/(?:src|href)\s*=\s*["']?\/\/|url\(\s*["']?\/\//);
    }
  });

  it('has a page that loads its script and stylesheet from beside it', () => {
    const html = files.get('index.html')!.toString('utf8');
    expect(html).toMatch(/<script type="module" src="app\.js"><\/script>/);
    expect(html).toMatch(/<link rel="stylesheet" href="app\.css"/);
    expect(files.get('app.js')!.length).toBeGreaterThan(10_000);
  });
});
