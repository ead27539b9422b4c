import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MsgTwinMap } from '../device-models/internal.js';
import { loadEdgeConfig } from '../edgecore/config.js';
import { EdgeCore } from '../edgecore/edgecore.js';
import { joinCloud } from '../edgecore/join.js';
import { silentLogger } from '../sdk/internal.js';
import { joinedEdgeConfig } from '../test/support/joined-edge.js';
import { meterObject } from '../test/support/meter-object.js';
import { startTcpProxy, type TcpProxy } from '../test/support/tcp-proxy.js';
import { waitFor } from '../test/support/wait-for.js';
import { CloudHub } from './cloudhub.js';
import { CloudHubMetrics } from './cloudhub-metrics.js';
import { CloudPki } from './pki.js';

/**
 * An edge given two CloudHubs (`cloud.servers`), without Kubernetes: two real hubs on one PKI, each behind a
 * TCP relay the test can cut, sharing an in-memory cloud (what Kubernetes is to replicas). The edge goes to the
 * other hub when its own is cut off, sends its outbox there, comes back when that one goes too, and tells the
 * hub it is on its outbox depth.
 */

const NODE = 'node-f';
const KEY = 'default/meter-f';

const object = meterObject(NODE, 'meter-f', '5');

describe('an edge with several cloudcore addresses', () => {
  let dir: string;
  let edge: EdgeCore;
  const reported = new Map<string, MsgTwinMap>();
  let failing = false;
  const hubs: { hub: CloudHub; proxy: TcpProxy; registry: Registry }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cloudhub-failover-'));
    const pki = await CloudPki.open(join(dir, 'pki'));
    for (let i = 0; i < 2; i++) {
      const registry = new Registry();
      const hub = new CloudHub({
        pki,
        log: silentLogger,
        host: '127.0.0.1',
        port: 0,
        keepaliveMs: 300,
        resendMs: 300,
        metrics: new CloudHubMetrics(registry),
        handlers: {
          devicesOf: (node) => (node === NODE ? [object] : []),
          nodeOf: (key) => (key === KEY ? NODE : undefined),
          twins: async (key, twins) => {
            if (failing) throw new Error('the API server is away');
            reported.set(key, { ...reported.get(key), ...twins });
          },
          state: async () => {},
        },
      });
      await hub.start();
      const [host, port] = hub.url.split(':');
      hubs.push({ hub, proxy: await startTcpProxy({ host: host!, port: Number(port) }), registry });
    }
    const configFile = join(dir, NODE, 'edge.yaml');
    await joinCloud({
      cloud: hubs[0]!.hub.url,
      token: await pki.issueToken(600),
      nodeName: NODE,
      dataDir: join(dir, NODE),
      configFile,
    });
    const joined = await loadEdgeConfig(configFile);
    edge = new EdgeCore({
      config: joinedEdgeConfig(
        joined,
        { servers: hubs.map((h) => h.proxy.address), keepaliveSeconds: 0.3, reconnectMaxSeconds: 0.5 },
        { inProcessMappers: false, writeBehindMs: 0 },
      ),
      cloudLink: { resendMs: 300 },
    });
    await edge.start();
  });
  afterAll(async () => {
    await edge?.stop();
    for (const { hub, proxy } of hubs) {
      await proxy.close();
      await hub.stop();
    }
    await rm(dir, { recursive: true, force: true });
  });

  const report = async (value: string) => {
    const outcome = await edge.twinModule!.update(KEY, { level: { actual: { value } } }, 'edge');
    expect(outcome.ok).toBe(true);
  };
  const arrived = (value: string) => reported.get(KEY)?.level?.actual?.value === value;
  const serving = () => hubs.findIndex((h) => h.proxy.address === edge.edgeHub?.server);
  const gauge = async (i: number, name: string) =>
    (await hubs[i]!.registry.getSingleMetricAsString(name))
      .split('\n')
      .find((l) => l.includes(`node="${NODE}"`));

  it('goes on to the other hub when its own is cut off, and sends it what was not acknowledged', async () => {
    await waitFor('the device at the edge', () => edge.edgeHub?.connected && edge.twinModule?.twins(KEY));
    await report('1');
    await waitFor('1 in the cloud', () => arrived('1'));
    const first = serving();
    expect(first).toBeGreaterThanOrEqual(0);
    expect(hubs[first]!.hub.nodes).toEqual([NODE]);

    hubs[first]!.proxy.cut();
    await report('2'); // made while the edge is between hubs
    await waitFor('the edge on the other hub', () => edge.edgeHub?.connected && serving() === 1 - first);
    await waitFor('2 in the cloud', () => arrived('2'));
    await waitFor('the first hub let it go', () => hubs[first]!.hub.nodes.length === 0);
    expect(await gauge(first, 'edgetwin_cloudcore_node_connected')).toMatch(/ 0$/);
    expect(await gauge(1 - first, 'edgetwin_cloudcore_node_connected')).toMatch(/ 1$/);
    expect(await gauge(1 - first, 'edgetwin_cloudcore_node_connects_total')).toMatch(/ 1$/);
  });

  it('keeps trying both in turn while neither answers, and takes whichever comes back', async () => {
    const second = serving();
    hubs[second]!.proxy.cut();
    await waitFor('the link down', () => !edge.edgeHub?.connected);
    await report('3');
    const tried = hubs.map((h) => h.proxy.accepted);
    // Both addresses are dialled again and again (each refused at once by its relay).
    await waitFor('both dialled twice more', () => hubs.every((h, i) => h.proxy.accepted >= tried[i]! + 2));
    expect(edge.edgeHub?.connected).toBe(false);
    const back = 1 - second;
    hubs[back]!.proxy.restore();
    await waitFor('reconnected to the one restored', () => edge.edgeHub?.connected && serving() === back);
    await waitFor('3 in the cloud', () => arrived('3'));
    hubs[second]!.proxy.restore();
  });

  it('tells the hub its outbox depth with every keepalive', async () => {
    const hub = serving();
    await waitFor('depth 0 reported', async () =>
      (await gauge(hub, 'edgetwin_cloudcore_node_outbox_depth'))?.endsWith(' 0'),
    );
    // Reports the cloud cannot store yet (answered 503) stay in the outbox, and the depth says so.
    failing = true;
    await report('4');
    await waitFor('depth 1 reported', async () =>
      (await gauge(hub, 'edgetwin_cloudcore_node_outbox_depth'))?.endsWith(' 1'),
    );
    failing = false;
    await waitFor('4 in the cloud', () => arrived('4'));
    await waitFor('depth 0 again', async () =>
      (await gauge(hub, 'edgetwin_cloudcore_node_outbox_depth'))?.endsWith(' 0'),
    );
  });
});
