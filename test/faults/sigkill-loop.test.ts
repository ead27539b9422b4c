import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectClient,
  type EdgeFiles,
  type EdgeProcess,
  startEdgeProcess,
  stopEdgeProcess,
  twinGet,
  within,
  writeEdgeFiles,
} from './edge-process.js';

/**
 * edgecore under a steady stream of QoS 1 twin updates over MQTT, killed with SIGKILL at a random point and
 * restarted, KILLS times. Odd updates set the desired `target`, even ones report `reading`; values only grow.
 * After each kill the database must pass `PRAGMA integrity_check` (opened read-only) and, once edgecore is
 * back, every update whose `…/twin/update/result` arrived must be there (twin/get over MQTT and the HTTP API).
 */

const KILLS = Number(process.env.FAULT_KILLS ?? 20);
const DEVICE = 'kill-loop-01';
const ID = `default/${DEVICE}`;
const topic = (suffix: string) => `$hw/events/device/${ID}/${suffix}`;
/** Updates sent per millisecond tick of the pacing loop, and the most left unanswered at once. */
const BATCH = 4;
const WINDOW = 200;

interface Round {
  sent: number;
  acked: { target: number; reading: number };
  ackCount: number;
  refused: string[];
}

const figures = { kills: 0, sent: 0, acknowledged: 0, lost: 0, ms: 0 };

/** Streams updates until the process is gone; kills it `killAfterMs` after the first acknowledgement. */
async function streamAndKill(edge: EdgeProcess, first: number, killAfterMs: number): Promise<Round> {
  const client: MqttClient = await connectClient(edge.broker, { reconnectPeriod: 0 });
  client.on('error', () => {});
  const round: Round = { sent: 0, acked: { target: 0, reading: 0 }, ackCount: 0, refused: [] };
  let unanswered = 0;
  let killTimer: NodeJS.Timeout | undefined;
  client.on('message', (_topic, buffer) => {
    const body = JSON.parse(buffer.toString()) as { event_id?: string; code?: number; reason?: string };
    const seq = Number(body.event_id?.slice(1));
    if (!Number.isSafeInteger(seq)) return;
    unanswered--;
    if (body.code !== undefined) {
      round.refused.push(`${seq}: ${body.code} ${body.reason}`);
      return;
    }
    round.ackCount++;
    const property = seq % 2 === 1 ? 'target' : 'reading';
    round.acked[property] = Math.max(round.acked[property], seq);
    killTimer ??= setTimeout(() => edge.child.kill('SIGKILL'), killAfterMs);
  });
  await client.subscribeAsync(topic('twin/update/result'), { qos: 1 });
  const alive = () => edge.child.exitCode === null && edge.child.signalCode === null;
  let seq = first;
  while (alive()) {
    if (unanswered < WINDOW)
      for (let i = 0; i < BATCH; i++, seq++) {
        const twin =
          seq % 2 === 1
            ? { target: { expected: { value: String(seq) } } }
            : { reading: { actual: { value: String(seq) } } };
        unanswered++;
        round.sent++;
        client.publish(
          topic('twin/update'),
          JSON.stringify({ event_id: `s${seq}`, timestamp: Date.now(), twin }),
          { qos: 1 },
          () => {},
        );
      }
    // Pacing, not synchronisation: about BATCH updates a millisecond, fewer while WINDOW are unanswered.
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 1)), edge.exited]);
  }
  clearTimeout(killTimer);
  client.end(true);
  return round;
}

describe('edgecore killed with SIGKILL under load, again and again', () => {
  let dir: string;
  let files: EdgeFiles;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faults-kill-'));
    files = await writeEdgeFiles(dir, DEVICE);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`loses no acknowledged update and keeps a sound database (${KILLS} kills)`, async () => {
    const started = Date.now();
    let first = 1;
    let edge = await startEdgeProcess(files.config);
    try {
      for (let kill = 1; kill <= KILLS; kill++) {
        const killAfterMs = 5 + Math.floor(Math.random() * 400);
        const round = await within(`round ${kill}`, 60_000, streamAndKill(edge, first, killAfterMs));
        const [, signal] = await edge.exited;
        const context = `kill ${kill} (${killAfterMs} ms after the first ack; ${round.sent} sent, ${round.ackCount} acked)`;
        expect(signal, context).toBe('SIGKILL');
        expect(round.ackCount, context).toBeGreaterThan(0);
        expect(round.refused, context).toEqual([]);

        const db = new Database(join(files.dataDir, 'edgetwin.db'), { readonly: true });
        try {
          expect(db.pragma('integrity_check', { simple: true }), context).toBe('ok');
        } finally {
          db.close();
        }

        edge = await startEdgeProcess(files.config);
        const client = await connectClient(edge.broker);
        let twins: Awaited<ReturnType<typeof twinGet>>;
        try {
          twins = await twinGet(client, ID);
        } finally {
          await client.endAsync();
        }
        const stored = {
          target: Number(twins.target?.expected?.value ?? 0),
          reading: Number(twins.reading?.actual?.value ?? 0),
        };
        const view = (await (await fetch(`${edge.http}/api/v1/devices/${ID}`)).json()) as {
          twins: Record<string, { desired: { value: string } | null; reported: { value: string } | null }>;
        };
        expect(view.twins.target?.desired?.value, context).toBe(twins.target?.expected?.value);
        expect(view.twins.reading?.reported?.value, context).toBe(twins.reading?.actual?.value);

        const lost =
          (stored.target < round.acked.target ? 1 : 0) + (stored.reading < round.acked.reading ? 1 : 0);
        figures.kills++;
        figures.sent += round.sent;
        figures.acknowledged += round.ackCount;
        figures.lost += lost;
        expect(stored.target, `${context}: desired target`).toBeGreaterThanOrEqual(round.acked.target);
        expect(stored.reading, `${context}: reported reading`).toBeGreaterThanOrEqual(round.acked.reading);
        // Nothing that was never sent can be there either.
        expect(Math.max(stored.target, stored.reading), context).toBeLessThan(first + round.sent);
        first += round.sent + 1;
      }
    } finally {
      await stopEdgeProcess(edge);
      figures.ms = Date.now() - started;
      console.log(
        `sigkill loop: ${figures.kills} kills, ${figures.sent} updates sent, ${figures.acknowledged} acknowledged, ` +
          `${figures.lost} acknowledged values lost, ${(figures.ms / 1000).toFixed(1)} s`,
      );
    }
  }, 300_000);
});
