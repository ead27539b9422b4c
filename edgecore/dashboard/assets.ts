import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root: above `dist/` when this runs compiled, above `edgecore/` when it runs from source. */
function packageRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const inDist = here.endsWith(join(sep, 'dist', 'edgecore', 'dashboard'));
  return resolve(here, inDist ? '../../..' : '../..');
}

/**
 * Where the built dashboard is (`dist/edgecore/dashboard/public`: index.html, app.js, app.css), whether this
 * module runs from dist/ or from source (tests); `npm run build` makes it.
 */
export function dashboardDir(): string {
  return join(packageRoot(), 'dist', 'edgecore', 'dashboard', 'public');
}

/** The dashboard's source folder (edgecore/dashboard), for the build. */
export function dashboardSourceDir(): string {
  return join(packageRoot(), 'edgecore', 'dashboard');
}
