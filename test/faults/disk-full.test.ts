import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait-for.js';
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
 * edgecore's data directory on a small tmpfs that the test fills up: twin updates over MQTT and desired values
 * over HTTP must get a clear 503 (never a crash, never a 500), the process must keep answering, and once space
 * is freed writes succeed again with every acknowledged value intact. Needs `mount -t tmpfs` (root, as CI
 * runs); elsewhere the test is skipped and says why.
 */

const DEVICE = 'disk-full-01';
const ID = `default/${DEVICE}`;
const topic = (suffix: string) => `$hw/events/device/${ID}/${suffix}`;
/** A twin value of 400 characters that still reads as its number: the WAL needs room quickly. */
const value = (seq: number) => String(seq).padStart(400, '0');

function tryMount(at: string): string | undefined {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', at], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return (error as { stderr?: Buffer }).stderr?.toString().trim() || (error as Error).message;
  }
}

/** Writes `file` until the filesystem has no byte left. */
function fill(file: string): number {
  const fd = openSync(file, 'a');
  let written = 0;
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
      const chunk = Buffer.alloc(size, 0x5a);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw error;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

describe('edgecore with a full disk', () => {
  let dir: string;
  let disk: string;
  let mountProblem: string | undefined;
  let files: EdgeFiles;
  let edge: EdgeProcess | undefined;
  let client: MqttClient | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faults-disk-'));
    disk = join(dir, 'disk');
    await mkdir(disk);
    mountProblem = tryMount(disk);
    if (mountProblem) console.warn(`disk-full test skipped: cannot mount a tmpfs here (${mountProblem})`);
    files = await writeEdgeFiles(dir, DEVICE, { dataDir: join(disk, 'data') });
  });
  afterAll(async () => {
    await client?.endAsync();
    if (edge) await stopEdgeProcess(edge);
    if (!mountProblem) execFileSync('umount', ['-l', disk]);
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 while full, never crashes, and recovers once space is freed', async (context) => {
    if (mountProblem) context.skip();
    edge = await startEdgeProcess(files.config);
    client = await connectClient(edge.broker);
    client.on('error', () => {});
    const results = new Map<string, { code?: number; reason?: string }>();
    const states: unknown[] = [];
    client.on('message', (t, buffer) => {
      const body = JSON.parse(buffer.toString()) as { event_id?: string; code?: number; reason?: string };
      if (t === topic('state/update/result')) states.push(body);
      else if (body.event_id) results.set(body.event_id, body);
    });
    await client.subscribeAsync([topic('twin/update/result'), topic('state/update/result')], { qos: 1 });
    let seq = 0;
    /** Sends `count` updates of `target` at once and waits for each one's result. */
    const send = async (count: number) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        seq++;
        const eventId = `u${seq}`;
        ids.push(eventId);
        client!.publish(
          topic('twin/update'),
          JSON.stringify({ event_id: eventId, twin: { target: { expected: { value: value(seq) } } } }),
          { qos: 1 },
        );
      }
      await within(
        `results of ${ids[0]}…${ids.at(-1)}`,
        10_000,
        waitFor('every result', () => ids.every((id) => results.has(id)), 10_000, 5),
      );
      return ids.map((id) => ({ seq: Number(id.slice(1)), ...results.get(id)! }));
    };
    const put = (v: string) =>
      fetch(`${edge!.http}/api/v1/devices/${ID}/twins/target/desired`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value: v }),
      });
    let newestAcked = 0;
    const note = (answers: { seq: number; code?: number }[]) => {
      for (const a of answers) if (a.code === undefined) newestAcked = Math.max(newestAcked, a.seq);
    };

    note(await send(20));
    expect(newestAcked).toBe(20);
    const filler = join(disk, 'filler');
    const filled = fill(filler);
    expect(filled).toBeGreaterThan(0);

    // Full: the WAL has to grow before long, and then every write is refused with 503 and nothing else.
    const codes = new Set<number | undefined>();
    for (let round = 0; round < 200 && !codes.has(503); round++) {
      const answers = await send(25);
      for (const a of answers) codes.add(a.code);
      note(answers);
    }
    expect(codes.has(503), 'an MQTT update refused with 503 while the disk is full').toBe(true);
    expect([...codes].filter((c) => c !== undefined && c !== 503)).toEqual([]);
    const refusal = [...results.values()].find((r) => r.code === 503)!;
    expect(refusal.reason).toMatch(/not stored/);

    const statuses = new Set<number>();
    let body503: { code?: number; reason?: string } | undefined;
    for (let i = 0; i < 100 && !body503; i++) {
      const response = await put(value(++seq));
      statuses.add(response.status);
      if (response.status === 503) body503 = (await response.json()) as typeof body503;
      else await response.arrayBuffer();
    }
    expect(body503, 'HTTP PUT refused with 503 while the disk is full').toMatchObject({ code: 503 });
    expect([...statuses].filter((s) => s !== 200 && s !== 503)).toEqual([]);

    // A state report is answered too, stored or not (soft: the rest of the test goes on either way).
    client.publish(topic('state/update'), JSON.stringify({ event_id: 'st1', state: 'online' }), { qos: 1 });
    const stateAnswered = await waitFor('state result', () => states.length > 0, 3000, 5).catch(() => false);
    expect.soft(stateAnswered, 'state/update/result while the disk is full (a 503, or the state)').toBe(true);
    if (!stateAnswered)
      console.warn(
        edge
          .log()
          .split('\n')
          .filter((l) => /state|handler/i.test(l))
          .join('\n'),
      );

    // Still up and answering.
    expect(edge.child.exitCode).toBeNull();
    // Health may say the store cannot write (503) or not know yet (200); it answers either way.
    expect([200, 503]).toContain((await fetch(`${edge.http}/healthz`)).status);
    expect((await fetch(`${edge.http}/api/v1/devices/${ID}`)).status).toBe(200);

    // Space again: writes succeed (within a bound), and keep succeeding.
    await unlink(filler);
    let recovered = false;
    for (let round = 0; round < 50 && !recovered; round++) {
      const answers = await send(1);
      note(answers);
      recovered = answers[0]!.code === undefined;
    }
    expect(recovered, 'an update acknowledged once space is freed').toBe(true);
    const after = await send(50);
    note(after);
    expect(after.filter((a) => a.code !== undefined)).toEqual([]);
    const putAfter = await put(value(++seq));
    expect(putAfter.status).toBe(200);
    expect((await fetch(`${edge.http}/healthz`)).status).toBe(200);
    newestAcked = seq;

    // Twins intact: what was acknowledged last is what edgecore holds, now and after a restart.
    const twins = await twinGet(client, ID);
    expect(Number(twins.target?.expected?.value)).toBe(newestAcked);
    expect(twins.level?.expected?.value).toBe('10');
    await client.endAsync();
    client = undefined;
    await stopEdgeProcess(edge);
    const db = new Database(join(files.dataDir, 'edgetwin.db'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
    edge = await startEdgeProcess(files.config);
    const view = (await (await fetch(`${edge.http}/api/v1/devices/${ID}`)).json()) as {
      twins: Record<string, { desired: { value: string } | null }>;
    };
    expect(Number(view.twins.target?.desired?.value)).toBe(newestAcked);
    console.log(
      `disk full: ${filled} bytes of filler, ${seq} writes tried, codes seen while full: ${[...codes].join(', ')}, ` +
        `HTTP statuses while full: ${[...statuses].join(', ')}`,
    );
  }, 120_000);
});
