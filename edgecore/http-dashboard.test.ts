import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../sdk/index.js';
import { rateLimitedLogger } from '../sdk/log-limit.js';
import { cacheControl, registerDashboard } from './http-dashboard.js';
import { sendError } from './http-errors.js';

/** The dashboard's files served by Fastify (its own inject, no socket), and `/` without a build. */

async function app(dir: URL | false) {
  const instance = Fastify();
  instance.setErrorHandler(sendError(rateLimitedLogger(silentLogger)));
  await registerDashboard(instance, dir);
  return instance;
}

describe('the dashboard', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dashboard-'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>edgetwin</title>');
    await writeFile(join(dir, 'app.js'), 'console.log(1)');
    await writeFile(join(dir, 'chunk-5XKJ2A7Q.js'), 'console.log(2)');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('serves index.html at / and the files beside it, hashed ones cached for a year and the others revalidated', async () => {
    const dashboard = await app(pathToFileURL(`${dir}/`));
    const index = await dashboard.inject('/');
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-type']).toMatch(/^text\/html/);
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.headers.etag).toBeDefined();
    expect(index.body).toContain('<title>edgetwin</title>');
    const app_ = await dashboard.inject('/app.js');
    expect(app_.headers['content-type']).toMatch(/javascript/);
    expect(app_.headers['cache-control']).toBe('no-cache');
    const hashed = await dashboard.inject('/chunk-5XKJ2A7Q.js');
    expect(hashed.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    // Revalidation: the ETag answers 304.
    const again = await dashboard.inject({
      url: '/',
      headers: { 'if-none-match': String(index.headers.etag) },
    });
    expect(again.statusCode).toBe(304);
    expect((await dashboard.inject('/nope.js')).statusCode).toBe(404);
    // A client that takes gzip gets the copy compressed at start, when that is smaller.
    await writeFile(join(dir, 'big.js'), 'console.log("edgetwin");\n'.repeat(200));
    const reloaded = await app(pathToFileURL(`${dir}/`));
    const zipped = await reloaded.inject({ url: '/big.js', headers: { 'accept-encoding': 'gzip, br' } });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(zipped.rawPayload).toString()).toBe('console.log("edgetwin");\n'.repeat(200));
    expect((await reloaded.inject('/big.js')).headers['content-encoding']).toBeUndefined();
    await reloaded.close();
    await dashboard.close();
  });

  it('answers / with 404 saying the dashboard is not built, or turned off', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'dashboard-empty-'));
    try {
      const unbuilt = await app(pathToFileURL(`${empty}/`));
      const answer = await unbuilt.inject('/');
      expect(answer.statusCode).toBe(404);
      expect(answer.json()).toEqual({
        code: 404,
        reason: expect.stringMatching(/^the dashboard is not built \(no index.html in /),
      });
      await unbuilt.close();
      const off = await app(false);
      expect((await off.inject('/')).json()).toEqual({ code: 404, reason: 'the dashboard is turned off' });
      await off.close();
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('tells hashed file names from others', () => {
    for (const name of ['app-5XKJ2A7Q.js', 'assets/index.3f9a1c2b.css', 'chunk-AB12CD34EF.mjs'])
      expect(cacheControl(name), name).toMatch(/immutable/);
    for (const name of ['index.html', 'app.js', 'app.css', 'dashboard-settings.js', 'uplot.min.css'])
      expect(cacheControl(name), name).toBe('no-cache');
  });
});
