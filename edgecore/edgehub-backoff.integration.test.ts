import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudHub } from '../cloudcore/cloudhub.js';
import { CloudPki } from '../cloudcore/pki.js';
import { silentLogger } from '../sdk/internal.js';
import { FleetEdge } from '../test/support/fleet-edge.js';
import { meterObject } from '../test/support/meter-object.js';
import { waitFor } from '../test/support/wait-for.js';

/**
 * An edge whose cloud cannot store its reports: a real CloudHub (TLS, join API, WebSocket) whose Kubernetes
 * side is an in-memory map that fails while "overloaded", so that the hub answers every report with 503, and
 * an edge with the real cloud link (FleetEdge: EdgeHub, SQLite outbox). The edge sends the same report again
 * later each time (exponential backoff), not every resendMs; once the cloud takes reports again everything is
 * acknowledged, and the next report that fails is sent again on the short delay once more.
 */

const NODE = 'node-b';
const KEY = 'default/meter-b';
const RESEND_MS = 100;
/**
 * Sends of one report counted over this long: every RESEND_MS to 1.5 × RESEND_MS as before, some 10 to 15; with
 * backoff (RESEND_MS, 2×, 4×, 8×, 12× each ±20 %) at most 5 — the fifth resend comes at 2.16 s at the earliest.
 */
const WINDOW_MS = 1_500;

const object = meterObject(NODE, 'meter-b', '3');

describe('an edge whose cloud answers 503', () => {
  let dir: string;
  let hub: CloudHub;
  let edge: FleetEdge;
  let overloaded = false;
  /** Every report the cloud was sent, when, and what it carried; and what it stored. */
  const sent: { at: number; level?: string; state?: string }[] = [];
  const stored = { level: '', state: '' };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgehub-backoff-'));
    const pki = await CloudPki.open(join(dir, 'pki'));
    hub = new CloudHub({
      pki,
      log: silentLogger,
      host: '127.0.0.1',
      port: 0,
      keepaliveMs: 5_000,
      resendMs: 60_000,
      handlers: {
        devicesOf: (node) => (node === NODE ? [object] : []),
        nodeOf: (key) => (key === KEY ? NODE : undefined),
        twins: async (_key, twins) => {
          const level = twins.level?.actual?.value ?? undefined;
          sent.push({ at: Date.now(), ...(level !== undefined ? { level } : {}) });
          if (overloaded) throw new Error('the API server is overloaded');
          if (level !== undefined) stored.level = level;
        },
        state: async (_key, { state }) => {
          sent.push({ at: Date.now(), state });
          if (overloaded) throw new Error('the API server is overloaded');
          stored.state = state;
        },
      },
    });
    await hub.start();
    edge = await FleetEdge.join({
      nodeName: NODE,
      dataDir: join(dir, NODE),
      join: hub.url,
      token: await pki.issueToken(600),
      servers: [hub.url],
      writeBehindMs: 0,
      resendMs: RESEND_MS,
    });
    await edge.start();
    await waitFor(
      'the device at the edge, its twins in the cloud',
      () => edge.hub.connected && edge.holds(KEY) && edge.store.outboxDepth() === 0,
    );
  });
  afterAll(async () => {
    await edge?.stop();
    await hub?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** How often the cloud was sent `level` / `state` over WINDOW_MS from the first time. */
  const countSends = async (which: { level: string } | { state: string }) => {
    const matches = (s: (typeof sent)[number]) =>
      'level' in which ? s.level === which.level : s.state === which.state;
    const first = await waitFor(`${JSON.stringify(which)} sent`, () => sent.find(matches));
    await delay(first.at + WINDOW_MS - Date.now());
    return sent.filter((s) => matches(s) && s.at <= first.at + WINDOW_MS).length;
  };

  it('sends an unacknowledged report again later each time, and delivers it once the cloud recovers', async () => {
    overloaded = true;
    expect(edge.report(KEY, { level: '1' })).toBe(true);
    await edge.setState(KEY, 'online');
    const [twinSends, stateSends] = await Promise.all([
      countSends({ level: '1' }),
      countSends({ state: 'online' }),
    ]);
    expect(twinSends).toBeGreaterThanOrEqual(2);
    expect(twinSends).toBeLessThanOrEqual(5);
    expect(stateSends).toBeGreaterThanOrEqual(2);
    expect(stateSends).toBeLessThanOrEqual(5);
    // Still unacknowledged: the report stays in the outbox.
    expect(edge.store.outboxDepth()).toBeGreaterThan(0);

    overloaded = false;
    await waitFor(
      'the report and the state in the cloud',
      () => stored.level === '1' && stored.state === 'online',
    );
    await waitFor('the outbox acknowledged', () => edge.store.outboxDepth() === 0);
  });

  it('starts again from the short delay once the cloud has taken a report', async () => {
    overloaded = true;
    expect(edge.report(KEY, { level: '2' })).toBe(true);
    // Sent at once, then after ~RESEND_MS and ~3 × RESEND_MS: had the backoff stayed at its cap (~12 × RESEND_MS),
    // twice at most.
    const twinSends = await countSends({ level: '2' });
    expect(twinSends).toBeGreaterThanOrEqual(3);
    expect(twinSends).toBeLessThanOrEqual(5);
    overloaded = false;
    await waitFor('the report in the cloud', () => stored.level === '2');
    await waitFor('the outbox acknowledged', () => edge.store.outboxDepth() === 0);
  });
});
