import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { type MetricsServer, startMetricsServer } from './metrics-server.js';

describe("cloudcore's metrics endpoint", () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves the registry at /metrics, health at /healthz, and nothing else', async () => {
    const registry = new Registry();
    const patches = new Counter({ name: 'test_patches_total', help: 'x', registers: [registry] });
    patches.inc(3);
    let problem: string | undefined = 'starting';
    server = await startMetricsServer({ host: '127.0.0.1', port: 0, registry, health: () => problem });

    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    expect(await metrics.text()).toContain('test_patches_total 3');

    const starting = await fetch(`${server.url}/healthz`);
    expect([starting.status, await starting.text()]).toEqual([503, 'starting\n']);
    problem = undefined;
    const ok = await fetch(`${server.url}/healthz`);
    expect([ok.status, await ok.text()]).toEqual([200, 'ok\n']);

    expect((await fetch(`${server.url}/api/v1/devices`)).status).toBe(404);
    const post = await fetch(`${server.url}/metrics`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET']);
  });
});
