import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MsgTwinMap } from '../device-models/index.js';
import { type TopicWatcher, watchTopics } from '../sdk/testing/index.js';
import { TwinStore } from '../twin/store.js';
import { edgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';

/**
 * The twin cache and SQLite agree, always: commits fail at random points (a trigger in the real database
 * raises an error inside the group transaction, as a full disk or an I/O error would), and afterwards what
 * the twin module shows is exactly what the database holds, and no desired value that was refused ever went
 * out in a delta (which a mapper would write to the device).
 */

const sample = new URL('../device-models/samples/modbus-tcp-thermostat.yaml', import.meta.url).pathname;
const NAME = `thermostat-${randomUUID().slice(0, 8)}`;
const ID = `default/${NAME}`;
const DELTA = `$hw/events/device/${ID}/twin/update/delta`;

/** Switches a failure on and off inside the store's own transactions, from a second connection. */
function faultSwitch(file: string) {
  const db = new Database(file);
  db.pragma('busy_timeout = 5000');
  db.exec(`
    CREATE TABLE IF NOT EXISTS test_fault (armed INTEGER NOT NULL);
    INSERT INTO test_fault SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM test_fault);
    CREATE TRIGGER IF NOT EXISTS test_fault_twin_insert BEFORE INSERT ON device_twin
      WHEN (SELECT armed FROM test_fault) BEGIN SELECT RAISE(ABORT, 'injected I/O error'); END;
    CREATE TRIGGER IF NOT EXISTS test_fault_twin_update BEFORE UPDATE ON device_twin
      WHEN (SELECT armed FROM test_fault) BEGIN SELECT RAISE(ABORT, 'injected I/O error'); END;
  `);
  const set = db.prepare('UPDATE test_fault SET armed = ?');
  return {
    arm: (on: boolean) => set.run(on ? 1 : 0),
    close: () => {
      if (db.open) db.close();
    },
  };
}

type Op = { kind: 'desired' } | { kind: 'reported' } | { kind: 'heater' };
interface Batch {
  fail: boolean;
  ops: Op[];
}

const batches = fc.array(
  fc.record({
    fail: fc.boolean(),
    ops: fc.array(
      fc.oneof(
        fc.constant<Op>({ kind: 'desired' }),
        fc.constant<Op>({ kind: 'reported' }),
        fc.constant<Op>({ kind: 'heater' }),
      ),
      { minLength: 1, maxLength: 6 },
    ),
  }),
  { minLength: 1, maxLength: 8 },
);

describe('twin cache and store under failing commits', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twin-consistency-'));
    await writeFile(
      join(dir, 'thermostat.yaml'),
      (await readFile(sample, 'utf8')).replaceAll('thermostat-01', NAME),
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** One run: a fresh edge, the batches, then the comparisons. */
  async function run(plan: Batch[]): Promise<void> {
    const dataDir = join(dir, `data-${randomUUID().slice(0, 8)}`);
    const edge = new EdgeCore({
      config: edgeConfig({
        dataDir,
        eventBus: { internal: { port: 0, auth: 'none' } },
        http: { port: 0 },
        devices: { dirs: [dir], watch: false },
        mappers: { inProcess: false },
        // Reports nobody waits on are held and flushed while commits fail too.
        twin: { writeBehindMs: 20 },
      }),
    });
    await edge.start();
    const fault = faultSwitch(join(dataDir, 'edgetwin.db'));
    // Only the delta is watched: reported values with nobody on their result take the write-behind path.
    let watch: TopicWatcher | undefined;
    try {
      watch = await watchTopics(edge.brokerUrl, DELTA);
      const deltas: Record<string, unknown>[] = [];
      watch.client.on('message', (topic, payload) => {
        if (topic === DELTA) deltas.push(JSON.parse(payload.toString()) as Record<string, unknown>);
      });
      const twin = edge.twinModule!;
      // The Device's own desired value, stored when the device was added.
      const accepted = new Set<string>([twin.twins(ID)?.setpoint?.expected?.value ?? '']);
      const refused = new Set<string>();
      let n = 0;
      for (const batch of plan) {
        fault.arm(batch.fail);
        // Issued in one tick: one group commit holds them all, each built on the one before it.
        const outcomes = batch.ops.map((op) => {
          n++;
          let update: MsgTwinMap;
          let desired: string | undefined;
          if (op.kind === 'desired') {
            desired = (5 + n / 100).toFixed(2);
            update = { setpoint: { expected: { value: desired } } };
          } else if (op.kind === 'heater') update = { heater: { actual: { value: String(n % 2 === 0) } } };
          else update = { setpoint: { actual: { value: (20 + n / 1000).toFixed(3) } } };
          return twin.update(ID, update, 'edge').then((outcome) => ({ outcome, desired }));
        });
        for (const { outcome, desired } of await Promise.all(outcomes)) {
          if (desired === undefined) continue;
          if (outcome.ok) accepted.add(desired);
          else {
            expect(outcome).toMatchObject({ code: 503 });
            refused.add(desired);
          }
        }
      }
      fault.arm(false);
      // A last desired value, accepted: once its delta is here, every delta published before it is too.
      const marker = '34.99';
      expect((await twin.update(ID, { setpoint: { expected: { value: marker } } }, 'edge')).ok).toBe(true);
      accepted.add(marker);
      await watch.next(
        (m) => m.topic === DELTA && (m.payload.delta as Record<string, string>).setpoint === marker,
      );
      const cache = twin.twins(ID);
      await watch.close();
      watch = undefined;
      fault.close();
      await edge.stop(); // commits what write-behind still holds

      const stored = TwinStore.open(join(dataDir, 'edgetwin.db'));
      try {
        expect(stored.twins(ID)).toEqual(cache);
      } finally {
        stored.close();
      }
      for (const message of deltas) {
        const value = (message.delta as Record<string, string>).setpoint;
        if (value !== undefined) expect(accepted, `delta asked for refused ${value}`).toContain(value);
        const expected = (message.twin as Record<string, { expected?: { value: string } }>).setpoint?.expected
          ?.value;
        if (expected !== undefined) expect(accepted).toContain(expected);
      }
      // The run failed something whenever it armed the fault before a batch with a desired value.
      if (plan.some((b) => b.fail && b.ops.some((op) => op.kind === 'desired')))
        expect(refused.size).toBeGreaterThan(0);
    } finally {
      await watch?.close();
      fault.close();
      await edge.stop();
    }
  }

  it('keeps cache == SQLite and never publishes a refused desired value, whatever commit fails', async () => {
    await fc.assert(
      fc.asyncProperty(batches, (plan) => run(plan)),
      { numRuns: 25, seed: 1129 },
    );
  }, 60_000);
});
