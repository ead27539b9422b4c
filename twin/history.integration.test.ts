import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MsgTwin } from '../device-models/index.js';
import { type Logger, silentLogger } from '../sdk/logger.js';
import { TwinStore, type TwinStoreOptions } from './store.js';
import { TwinHistory } from './store-history.js';
import { migrate, SCHEMA_VERSION } from './store-migrations.js';

/** The history of reported values (TwinStore.history) against a real SQLite file. */

const ID = 'default/thermometer-01';
let dir: string;
let file: string;
let store: TwinStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-history-'));
  file = join(dir, 'twin.db');
  store = open();
});

afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

function open(options: TwinStoreOptions = {}, at = file): TwinStore {
  const opened = TwinStore.open(at, { writeBehindMs: 0, ...options });
  opened.upsertDevice({ id: ID });
  return opened;
}

function reopen(options: TwinStoreOptions = {}): TwinStore {
  store.close();
  store = open(options);
  return store;
}

/** What is really in the file, from a second connection. */
function peek<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/**
 * The file as a crash would leave it: the database and its WAL copied while the store is open (between
 * commits, as SIGKILL finds it; the writes of this process are synchronous). Returns the copy's path.
 */
function crashCopy(at: string): string {
  const copy = `${at}.crashed`;
  copyFileSync(at, copy);
  if (existsSync(`${at}-wal`)) copyFileSync(`${at}-wal`, `${copy}-wal`);
  return copy;
}

/** A twin as the twin module hands it over: the reported value with its timestamp. */
const reported = (value: string, t: number): MsgTwin => ({
  actual: { value, metadata: { timestamp: t } },
  metadata: { type: 'float' },
});

const NOW = Date.now();
/** Points i = from…to-1 of a series reported every second, ending at about now. */
const series = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, k) => ({
    t: NOW - 1000_000 + (from + k) * 1000,
    v: String(from + k),
  }));

/** Reports `points` of `property`, one write each, `perCommit` writes per group commit. */
async function report(points: { t: number; v: string }[], property = 'temp', perCommit = 5): Promise<void> {
  for (let i = 0; i < points.length; i += perCommit)
    await Promise.all(
      points.slice(i, i + perCommit).map(({ t, v }) => store.write(ID, { [property]: reported(v, t) })),
    );
}

describe('recording', () => {
  it('records every reported value, oldest first, with its timestamp: a repeated value is a point, a desired value alone is none', async () => {
    await store.write(ID, { temp: reported('21.5', NOW - 3000) });
    await store.write(ID, { temp: reported('21.5', NOW - 2000) }); // same value, new timestamp
    const current = reported('22', NOW - 1000);
    await store.write(ID, { temp: current });
    // The twin module writes the whole twin when only its desired value changed: the same actual.
    await store.write(ID, { temp: { ...current, expected: { value: '25', metadata: { timestamp: NOW } } } });
    await store.write(ID, { temp: { expected: { value: '26' } } }); // no reported value at all
    expect(store.history(ID, 'temp')).toEqual([
      { t: NOW - 3000, v: '21.5' },
      { t: NOW - 2000, v: '21.5' },
      { t: NOW - 1000, v: '22' },
    ]);
    expect(store.history(ID, 'other')).toEqual([]);
    expect(store.history('default/nobody', 'temp')).toEqual([]);
  });

  it('stamps a reported value without a timestamp with the time the store was given it', async () => {
    const before = Date.now();
    await store.write(ID, { temp: { actual: { value: '7' } } });
    const [point] = store.history(ID, 'temp');
    expect(point?.v).toBe('7');
    expect(point!.t).toBeGreaterThanOrEqual(before);
    expect(point!.t).toBeLessThanOrEqual(Date.now());
  });

  it('records every report writeBehind held, not only the newest it commits, in one commit', async () => {
    store = reopen({ writeBehindMs: 20 });
    const before = store.commits;
    const points = series(0, 6);
    await Promise.all(points.map(({ t, v }) => store.writeBehind(ID, { temp: reported(v, t) })));
    expect(store.commits - before).toBe(1);
    expect(store.twins(ID).temp?.actual?.value).toBe('5');
    expect(store.history(ID, 'temp')).toEqual(points);
  });

  it('keeps the order of reports when a write follows reports writeBehind still holds', async () => {
    store = reopen({ writeBehindMs: 3_600_000 });
    const points = series(0, 4);
    void store.writeBehind(ID, { temp: reported(points[0]!.v, points[0]!.t) });
    void store.writeBehind(ID, { temp: reported(points[1]!.v, points[1]!.t) });
    await store.write(ID, { temp: reported(points[2]!.v, points[2]!.t) });
    await store.write(ID, { temp: reported(points[3]!.v, points[3]!.t) });
    expect(store.history(ID, 'temp')).toEqual(points);
  });

  it('keeps each twin’s own history', async () => {
    await store.write(ID, { a: reported('1', NOW - 2), b: reported('x', NOW - 2) });
    await store.write(ID, { a: reported('2', NOW - 1) });
    expect(store.history(ID, 'a')).toEqual([
      { t: NOW - 2, v: '1' },
      { t: NOW - 1, v: '2' },
    ]);
    expect(store.history(ID, 'b')).toEqual([{ t: NOW - 2, v: 'x' }]);
  });

  it('records nothing with maxPoints 0', async () => {
    expect(store.historyRetention).toEqual({ maxPoints: 10_000, maxAgeMs: 86_400_000 });
    store = reopen({ history: { maxPoints: 0 } });
    expect(store.historyRetention.maxPoints).toBe(0);
    await store.write(ID, { temp: reported('1', NOW) });
    expect(store.history(ID, 'temp')).toEqual([]);
    expect(peek('SELECT * FROM twin_history_log')).toEqual([]);
  });
});

describe('retention', () => {
  it('keeps the newest maxPoints points, as a ring that wraps', async () => {
    store = reopen({ history: { maxPoints: 10 } });
    const points = series(0, 25);
    await report(points, 'temp', 3);
    expect(store.history(ID, 'temp')).toEqual(points.slice(-10));
    // Chunks of 10 points at most, those out of the ring dropped as new ones are written.
    const chunks = peek<{ n: number }>('SELECT count(*) AS n FROM twin_history')[0]!.n;
    expect(chunks).toBeLessThanOrEqual(3);
  });

  it('keeps points younger than maxAgeMs only', async () => {
    store = reopen({ history: { maxAgeMs: 60_000 } });
    const old = { t: Date.now() - 120_000, v: 'old' };
    const recent = { t: Date.now() - 30_000, v: 'recent' };
    await report([old, recent]);
    expect(store.history(ID, 'temp')).toEqual([recent]);
  });

  it('answers the newest `limit` points at or after `since`', async () => {
    const points = series(0, 30);
    await report(points);
    const since = points[10]!.t;
    expect(store.history(ID, 'temp', { since })).toEqual(points.slice(10));
    expect(store.history(ID, 'temp', { since, limit: 5 })).toEqual(points.slice(25));
    expect(store.history(ID, 'temp', { since: since + 1, limit: 100 })).toEqual(points.slice(11));
    expect(store.history(ID, 'temp', { limit: 0 })).toEqual([]);
    expect(store.history(ID, 'temp', { since: NOW + 1 })).toEqual([]);
    expect(store.history(ID, 'temp', { limit: 1_000_000 })).toHaveLength(30); // at most 10,000
  });

  it('refuses a since that is not a number and a limit that is not an integer ≥ 0, naming them', () => {
    expect(() => store.history(ID, 'temp', { since: Number.NaN })).toThrow(/since/);
    expect(() => store.history(ID, 'temp', { since: '5' as unknown as number })).toThrow(/since/);
    expect(() => store.history(ID, 'temp', { limit: -1 })).toThrow(/limit/);
    expect(() => store.history(ID, 'temp', { limit: 1.5 })).toThrow(/limit/);
  });

  it('answers at most 10,000 points, the default 1,000', async () => {
    store = reopen({ history: { maxPoints: 20_000 } });
    const points = series(0, 10_050);
    await report(points, 'temp', 500);
    expect(store.history(ID, 'temp')).toEqual(points.slice(-1000));
    expect(store.history(ID, 'temp', { limit: 20_000 })).toEqual(points.slice(-10_000));
  });

  it('refuses bad retention options, naming the field', () => {
    expect(() => TwinStore.open(join(dir, 'x.db'), { history: { maxPoints: -1 } })).toThrow(
      /history\.maxPoints/,
    );
    expect(() => TwinStore.open(join(dir, 'y.db'), { history: { maxAgeMs: 0 } })).toThrow(
      /history\.maxAgeMs/,
    );
  });
});

describe('removal', () => {
  it('removes a device’s history with the device, and a twin’s with the twin', async () => {
    store.upsertDevice({ id: 'default/other' });
    await report(series(0, 100));
    await store.write('default/other', { temp: reported('1', NOW) });
    await store.write(ID, { gone: reported('1', NOW) });
    await store.write(ID, { gone: null });
    expect(store.history(ID, 'gone')).toEqual([]);
    store.removeDevice(ID);
    expect(store.history(ID, 'temp')).toEqual([]);
    store.close();
    store = TwinStore.open(file);
    store.upsertDevice({ id: ID });
    expect(store.history(ID, 'temp')).toEqual([]);
    expect(store.history('default/other', 'temp')).toEqual([{ t: NOW, v: '1' }]);
    const twins = peek<{ twin: number }>('SELECT DISTINCT twin FROM twin_history');
    const ids = peek<{ id: number }>('SELECT id FROM device_twin').map((row) => row.id);
    for (const { twin } of twins) expect(ids).toContain(twin);
  });
});

describe('persistence', () => {
  it('keeps the points and the ring’s position across a close and reopen', async () => {
    store = reopen({ history: { maxPoints: 100 } });
    const points = series(0, 150);
    await report(points.slice(0, 130), 'temp', 7);
    store = reopen({ history: { maxPoints: 100 } });
    expect(store.history(ID, 'temp')).toEqual(points.slice(30, 130));
    await report(points.slice(130), 'temp', 7);
    expect(store.history(ID, 'temp')).toEqual(points.slice(50));
    store = reopen({ history: { maxPoints: 100 } });
    expect(store.history(ID, 'temp')).toEqual(points.slice(50));
    expect(peek('SELECT * FROM twin_history_log')).toEqual([]); // close() moved the log into chunks
  });

  it('reads back what a crash left in the log: every committed point, none twice', async () => {
    const points = series(0, 300);
    await report(points, 'temp', 3); // the first ~130 chunked, the rest in the log
    expect(peek('SELECT * FROM twin_history').length).toBeGreaterThan(0);
    expect(peek('SELECT * FROM twin_history_log').length).toBeGreaterThan(0);
    const after = TwinStore.open(crashCopy(file), { writeBehindMs: 0 });
    try {
      expect(after.history(ID, 'temp')).toEqual(points);
      await after.write(ID, { temp: reported('next', NOW) });
      expect(after.history(ID, 'temp')).toEqual([...points, { t: NOW, v: 'next' }]);
    } finally {
      after.close();
    }
  });

  it('reads back none twice of a twin whose log rows another twin still needs', async () => {
    const quiet = { t: NOW - 5, v: 'q' };
    await store.write(ID, { quiet: reported(quiet.v, quiet.t), temp: reported('0', NOW - 1000_000) });
    const points = series(0, 70);
    await report(points.slice(1), 'temp', 1); // temp's first 64 go into a chunk; the log keeps them for quiet
    expect(peek('SELECT * FROM twin_history_log').length).toBeGreaterThan(1);
    expect(peek('SELECT * FROM twin_history').length).toBe(1);
    const after = TwinStore.open(crashCopy(file), { writeBehindMs: 0 });
    try {
      expect(after.history(ID, 'temp')).toEqual(points);
      expect(after.history(ID, 'quiet')).toEqual([quiet]);
    } finally {
      after.close();
    }
  });

  it('moves a twin’s points into a chunk two minutes after they were logged, however few, and empties the log', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: NOW });
    try {
      await store.write(ID, { rare: reported('1', NOW) });
      expect(peek('SELECT * FROM twin_history')).toEqual([]);
      vi.setSystemTime(NOW + 121_000);
      await store.write(ID, { often: reported('2', NOW + 121_000) }); // any later commit moves them
      expect(peek<{ n: number }>('SELECT count(*) AS n FROM twin_history')[0]!.n).toBe(1);
      expect(store.history(ID, 'rare')).toEqual([{ t: NOW, v: '1' }]);
      vi.setSystemTime(NOW + 242_000);
      await store.write(ID, { rare: reported('3', NOW + 242_000) });
      expect(peek('SELECT * FROM twin_history_log')).toHaveLength(1); // the rows before are gone
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps the log short: rows are deleted once every twin has its points in chunks', async () => {
    await report(series(0, 100), 'temp', 100); // in the log
    expect(peek('SELECT * FROM twin_history_log')).toHaveLength(1);
    for (let i = 1; i < 4; i++) await report(series(i * 300, (i + 1) * 300), 'temp', 300); // a chunk's worth each
    expect(peek('SELECT * FROM twin_history_log')).toEqual([]);
    expect(store.history(ID, 'temp', { limit: 10_000 })).toEqual([...series(0, 100), ...series(300, 1200)]);
  });

  it('upgrades a file of the previous schema: the twins stay, history starts', async () => {
    store.close();
    const old = join(dir, 'v4.db');
    const v4 = new Database(old);
    migrate(v4, undefined, 4);
    v4.prepare("INSERT INTO device (id, namespace, name) VALUES (?, 'default', 'old')").run('default/old');
    v4.prepare(
      "INSERT INTO device_twin (deviceid, name, actual, actual_meta, attr_type) VALUES (?, 't', '7', ?, 'int')",
    ).run('default/old', JSON.stringify({ timestamp: NOW - 1 }));
    v4.close();
    store = TwinStore.open(old);
    expect(store.twins('default/old').t?.actual?.value).toBe('7');
    expect(store.history('default/old', 't')).toEqual([]);
    // The value the twin held is the previous point: the same report again is not a new point.
    await store.write('default/old', { t: reported('7', NOW - 1) });
    await store.write('default/old', { t: reported('8', NOW) });
    expect(store.history('default/old', 't')).toEqual([{ t: NOW, v: '8' }]);
    store.close();
    const db = new Database(old, { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
    store = open();
  });
});

describe('a writer killed with SIGKILL mid-stream', () => {
  const builtDir = fileURLToPath(new URL('../dist/twin/', import.meta.url));
  const writer = fileURLToPath(new URL('./testdata/crash-writer.mjs', import.meta.url));
  const DEVICES = Array.from({ length: 4 }, (_, d) => `default/d${d}`);

  /** The writer (twin/crash.integration.test.ts's) from seq `first`, killed after `killAfter` acks. */
  async function runAndKill(at: string, first: number, killAfter: number): Promise<number[]> {
    const child = spawn(process.execPath, [writer, at, String(first)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: number[] = [];
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      acked.push(Number(line));
      if (acked.length === killAfter) child.kill('SIGKILL');
    });
    const [[, signal]] = await Promise.all([once(child, 'close'), once(lines, 'close')]);
    if (signal !== 'SIGKILL') throw new Error(`the writer ended by itself after ${acked.length} acks`);
    return acked;
  }

  it('keeps every acknowledged reported value in the history, once, in order (3 kills)', async () => {
    for (const name of ['store', 'store-history', 'store-history-chunks', 'store-history-codec']) {
      const built = join(builtDir, `${name}.js`);
      const source = new URL(`${name}.ts`, import.meta.url);
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(source).mtimeMs)
        throw new Error(`${built} is missing or older than twin/${name}.ts: run \`npm run build\` first`);
    }
    const at = join(dir, 'killed.db');
    let first = 1;
    const acked: number[] = [];
    for (let round = 1; round <= 3; round++) {
      acked.push(...(await runAndKill(at, first, 1 + Math.floor(Math.random() * 3000))));
      const killed = TwinStore.open(at);
      try {
        for (const [d, id] of DEVICES.entries()) {
          const values = killed.history(id, 'a', { limit: 10_000 }).map((p) => Number(p.v));
          expect(values, `round ${round}: ${id} in order, none twice`).toEqual(
            [...values].sort((x, y) => x - y).filter((v, i, all) => all.indexOf(v) === i),
          );
          const kept = new Set(values);
          const lost = acked.filter((seq) => seq % DEVICES.length === d && !kept.has(seq));
          expect(lost, `round ${round}: ${id}`).toEqual([]);
          first = Math.max(first, ...values.map((v) => v + 1));
        }
      } finally {
        killed.close();
      }
    }
  });
});

describe('failure', () => {
  it('a failing history write fails no twin write: the twins commit, the points are lost and logged', async () => {
    store.close();
    const warnings: unknown[] = [];
    const log: Logger = { ...silentLogger, warn: (obj) => void warnings.push(obj), child: () => log };
    store = TwinStore.open(file, { writeBehindMs: 0, log });
    const other = new Database(file);
    other.exec(`
      CREATE TABLE test_fault (armed INTEGER NOT NULL); INSERT INTO test_fault VALUES (1);
      CREATE TRIGGER test_fault BEFORE INSERT ON twin_history_log WHEN (SELECT armed FROM test_fault)
      BEGIN SELECT RAISE(ABORT, 'injected history failure'); END;
    `);
    try {
      await store.write(ID, { temp: reported('lost', NOW - 1) }, { temp: reported('lost', NOW - 1) });
      expect(store.twins(ID).temp?.actual?.value).toBe('lost');
      expect(store.outboxDepth()).toBe(1);
      expect(store.health.writable).toBe(true);
      expect(store.history(ID, 'temp')).toEqual([]);
      expect(JSON.stringify(warnings)).toContain('injected history failure');
      other.exec('UPDATE test_fault SET armed = 0');
      await store.write(ID, { temp: reported('kept', NOW) });
      expect(store.history(ID, 'temp')).toEqual([{ t: NOW, v: 'kept' }]);
    } finally {
      other.close();
    }
  });
});

describe('damage', () => {
  it('opens a file whose history rows are damaged, with the twins whole, and skips those points', async () => {
    const points = series(0, 300);
    await report(points, 'temp', 3); // chunks, and the rest in the log
    const crashed = crashCopy(file);
    const other = new Database(crashed);
    other.exec("UPDATE twin_history_log SET points = 'not json'");
    other.exec("UPDATE twin_history SET points = '[[1],' WHERE last = (SELECT min(last) FROM twin_history)");
    other.close();
    const after = TwinStore.open(crashed, { writeBehindMs: 0 });
    try {
      expect(after.twins(ID).temp?.actual?.value).toBe('299');
      const kept = after.history(ID, 'temp', { limit: 10_000 });
      expect(kept.length).toBeLessThan(points.length);
      for (const point of kept) expect(points).toContainEqual(point);
      await after.write(ID, { temp: reported('next', NOW) });
      expect(after.history(ID, 'temp').at(-1)).toEqual({ t: NOW, v: 'next' });
    } finally {
      after.close();
    }
  });
});

describe('sweep', () => {
  it('drops the chunks of twins whose newest point aged out', async () => {
    await report(series(0, 64), 'temp', 64);
    await report(series(0, 64), 'quiet', 64);
    await store.write(ID, { temp: reported('new', NOW + 3600_000) });
    store.close();
    const db = new Database(file);
    try {
      new TwinHistory(db, { maxAgeMs: 3600_000 }, silentLogger).sweep(NOW + 3600_000);
      const names = db
        .prepare('SELECT DISTINCT t.name FROM twin_history h JOIN device_twin t ON t.id = h.twin')
        .pluck()
        .all();
      expect(names).toEqual(['temp']);
    } finally {
      db.close();
    }
    store = open();
  });
});

describe('property', () => {
  it('answers what a list of every recorded point would, across commits, reopens and a crash', async () => {
    store.close();
    type Step =
      | { kind: 'report'; twin: 'a' | 'b'; v: string; dt: number }
      | { kind: 'commit' | 'reopen' | 'crash' };
    const step = fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          kind: fc.constant('report' as const),
          twin: fc.constantFrom('a' as const, 'b' as const),
          v: fc.constantFrom('1', '2', '3'),
          dt: fc.integer({ min: 0, max: 2 }),
        }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('commit' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const) }) },
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { minLength: 10, maxLength: 150, size: 'max' }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 15 }),
        async (steps: Step[], maxPoints, limit) => {
          let at = join(dir, `p${run++}.db`);
          const options = { history: { maxPoints } };
          let s = open(options, at);
          const model = { a: [] as { t: number; v: string }[], b: [] as { t: number; v: string }[] };
          const clock = { a: NOW - 100_000, b: NOW - 100_000 };
          let pending: Promise<void>[] = [];
          try {
            for (const st of steps) {
              if (st.kind === 'report') {
                clock[st.twin] += st.dt;
                const t = clock[st.twin];
                const last = model[st.twin].at(-1);
                if (last?.t !== t || last.v !== st.v) model[st.twin].push({ t, v: st.v });
                pending.push(s.write(ID, { [st.twin]: reported(st.v, t) }));
              } else {
                await Promise.all(pending);
                pending = [];
                if (st.kind === 'reopen') {
                  s.close();
                  s = open(options, at);
                } else if (st.kind === 'crash') {
                  at = crashCopy(at);
                  s.close();
                  s = open(options, at);
                }
              }
            }
            await Promise.all(pending);
            for (const twin of ['a', 'b'] as const) {
              const kept = model[twin].slice(-maxPoints);
              const since = kept[Math.floor(kept.length / 2)]?.t ?? 0;
              expect(s.history(ID, twin)).toEqual(kept);
              expect(s.history(ID, twin, { since, limit })).toEqual(
                kept.filter((p) => p.t >= since).slice(-limit),
              );
            }
          } finally {
            s.close();
          }
        },
      ),
      { numRuns: 40 },
    );
    store = open();
  });
});
