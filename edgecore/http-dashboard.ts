import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './http-guard.js';

/** Where the build puts the dashboard: beside this module (dist/edgecore/dashboard/public/). */
export const DASHBOARD_DIR = new URL('./dashboard/public/', import.meta.url);

/**
 * A file name carrying a content hash (`app-5XKJ2A7Q.js`, `chunk.3f9a1c2b.css`: eight or more letters and
 * digits, at least one a digit, after a dash or dot): it never changes, so it is cached for a year. Anything
 * else (index.html, app.js) is revalidated each time (`no-cache`, with its ETag and Last-Modified).
 */
const HASHED = /[.-](?=[A-Za-z0-9]*\d)[A-Za-z0-9]{8,}\.[A-Za-z0-9]+$/;

/** The Cache-Control of a dashboard file. */
export function cacheControl(path: string): string {
  return HASHED.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache';
}

/** Content types of what the dashboard's build writes. */
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  json: 'application/json; charset=utf-8',
  map: 'application/json; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
};

interface Asset {
  body: Buffer;
  /** The body gzipped once at start, for clients that take it (when that is smaller). */
  gzip?: Buffer;
  type: string;
  etag: string;
  cacheControl: string;
}

/**
 * Serves the built dashboard at `/` (index.html there) and the files beside it, read once at start and kept in
 * memory (with a gzipped copy) — a handful of files, ~90 KB; @fastify/static would cost the edge ~11 MB of RSS
 * for them. Without a build (or with `dir` false), `/` answers 404 saying so.
 */
export async function registerDashboard(app: FastifyInstance, dir: URL | false): Promise<void> {
  const root = dir === false ? undefined : fileURLToPath(dir);
  if (root === undefined || !existsSync(join(root, 'index.html'))) {
    const reason =
      root === undefined
        ? 'the dashboard is turned off'
        : `the dashboard is not built (no index.html in ${root}; npm run build builds it)`;
    app.get('/', { schema: { hide: true } }, () => {
      throw new HttpError(404, reason);
    });
    return;
  }
  const assets = new Map<string, Asset>();
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const body = await readFile(join(root, entry.name));
    const gzip = gzipSync(body);
    assets.set(`/${entry.name}`, {
      body,
      ...(gzip.length < body.length ? { gzip } : {}),
      type: TYPES[extname(entry.name).slice(1)] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      cacheControl: cacheControl(entry.name),
    });
  }
  assets.set('/', assets.get('/index.html')!);
  const serve = (request: FastifyRequest, reply: FastifyReply) => {
    const asset = assets.get(request.url.split('?')[0]!);
    if (!asset) throw new HttpError(404, 'not found');
    reply.header('content-type', asset.type).header('cache-control', asset.cacheControl);
    reply.header('etag', asset.etag).header('vary', 'accept-encoding');
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    if (asset.gzip && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''))) {
      reply.header('content-encoding', 'gzip');
      return reply.send(asset.gzip);
    }
    return reply.send(asset.body);
  };
  app.get('/', { schema: { hide: true } }, serve);
  app.get('/:file', { schema: { hide: true } }, serve);
}
