import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MsgTwin } from '../device-models/index.js';
import { type Logger, silentLogger } from '../sdk/logger.js';
import { TwinStore } from './store.js';
import {
  TwinStoreClosed,
  TwinStoreFull,
  TwinStoreSchemaError,
  TwinStoreUnknownDevice,
} from './store-errors.js';
import { migrate, SCHEMA_VERSION } from './store-migrations.js';

/** The twin store against a real SQLite file in a temporary directory. */

const ID = 'default/thermostat-01';
let dir: string;
let file: string;
let store: TwinStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgetwin-store-'));
  file = join(dir, 'twin.db');
  store = TwinStore.open(file);
  store.upsertDevice({ id: ID });
});

afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

/** A second, independent connection: what is really in the file. */
function peek<T>(sql: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** A store that was closed: what a late caller holds. */
function reopenClosed(): TwinStore {
  const closed = TwinStore.open(file, { writeBehindMs: 1000 });
  closed.close();
  return closed;
}

/** A reported value. */
const v = (value: string): MsgTwin => ({ actual: { value } });

function reopen(): TwinStore {
  store.close();
  store = TwinStore.open(file);
  return store;
}

// Unknown metadata fields are allowed on the wire (and kept in KubeEdge's `metadata` column).
const unit = { unit: '°C' };
const full: MsgTwin = {
  expected: { value: '21.5', metadata: { timestamp: 1_700_000_000_000 } },
  actual: { value: '20.1', metadata: { timestamp: 1_700_000_000_500 } },
  optional: false,
  metadata: { type: 'float', ...unit },
  expected_version: { cloud: 1, edge: 2 },
  actual_version: { cloud: 0, edge: 7 },
};

describe('twins', () => {
  it('round-trips expected, actual, metadata, versions, optional and type', async () => {
    const tombstone: MsgTwin = {
      optional: true,
      metadata: { type: 'deleted' },
      actual_version: { cloud: 0, edge: 3 },
    };
    // `__proto__` is a valid twin key: it must stay a plain key, never become a prototype.
    const twins: Record<string, MsgTwin> = Object.fromEntries([
      ['temperature', full],
      ['minimal', { actual: { value: '1' } }],
      // A reported value's reason (beyond KubeEdge) lives in actual_meta beside the timestamp.
      [
        'held',
        { actual: { value: '23.5', metadata: { timestamp: 9, reason: 'the register holds tenths' } } },
      ],
      ['empty', { expected: { value: '' }, metadata: {} }],
      ['gone', tombstone],
      ['__proto__', { actual: { value: 'plain key' } }],
    ]);
    await store.write(ID, twins);
    expect(reopen().twins(ID)).toEqual(twins);
    expect(Object.hasOwn(store.twins(ID), '__proto__')).toBe(true);
  });

  it('stores the columns as KubeEdge does', async () => {
    await store.write(ID, { temperature: full });
    const [row] = peek<Record<string, unknown>>('SELECT * FROM device_twin WHERE deviceid = ?', ID);
    expect(row).toMatchObject({
      deviceid: ID,
      name: 'temperature',
      expected: '21.5',
      actual: '20.1',
      expected_meta: '{"timestamp":1700000000000}',
      actual_meta: '{"timestamp":1700000000500}',
      expected_version: '{"cloud":1,"edge":2}',
      actual_version: '{"cloud":0,"edge":7}',
      optional: 0,
      attr_type: 'float',
      metadata: '{"unit":"°C"}',
    });
  });

  it('reads a row an older edgetwin typed double, bytes or stream in KubeEdge’s type, the model type beside it', async () => {
    const older = (type: string, value: string) =>
      ({ actual: { value }, metadata: { type, ...unit } }) as MsgTwin;
    await store.write(ID, {
      weight: older('double', '1.5'),
      photo: older('bytes', 'AAEC'),
      feed: older('stream', 'rtsp://x'),
      count: older('int', '3'),
    });
    const types = Object.entries(reopen().twins(ID)).map(([name, twin]) => [name, twin.metadata]);
    expect(Object.fromEntries(types)).toEqual({
      weight: { type: 'float', modelType: 'DOUBLE', ...unit },
      photo: { type: 'string', modelType: 'BYTES', ...unit },
      feed: { type: 'string', modelType: 'STREAM', ...unit },
      count: { type: 'int', ...unit },
    });
  });

  it('reads null fields back as absent, and a null twin removes the row', async () => {
    const withNulls: MsgTwin = {
      expected: null,
      actual: { value: null, metadata: { timestamp: 5 } },
      optional: null,
      metadata: null,
      expected_version: null,
      actual_version: null,
    };
    await store.write(ID, { a: withNulls, b: { actual: { value: 'x' } } });
    expect(store.twins(ID)).toEqual({
      a: { actual: { metadata: { timestamp: 5 } } },
      b: { actual: { value: 'x' } },
    });
    await store.write(ID, { b: null });
    expect(Object.keys(reopen().twins(ID))).toEqual(['a']);
  });

  it('keeps one row per property, updated in place', async () => {
    await store.write(ID, { t: { actual: { value: '1' } } });
    await store.write(ID, { t: { actual: { value: '2' } } });
    expect(peek('SELECT actual FROM device_twin')).toEqual([{ actual: '2' }]);
  });

  it('lists every device for warming a cache, those without twins included', async () => {
    store.upsertDevice({ id: 'default/other' });
    await store.write(ID, { t: { actual: { value: '1' } } });
    expect(reopen().allTwins()).toEqual(
      new Map([
        [ID, { t: { actual: { value: '1' } } }],
        ['default/other', {}],
      ]),
    );
  });
});

describe('devices', () => {
  it('creates a device from its id, then updates only the fields given', () => {
    expect(store.device(ID)).toEqual({
      id: ID,
      namespace: 'default',
      name: 'thermostat-01',
      description: '',
      state: 'unknown',
      lastOnline: '',
      attributes: {},
    });
    store.upsertDevice({ id: ID, description: 'hall', attributes: { vendor: { value: 'acme' } } });
    store.upsertDevice({ id: ID, name: 'renamed' });
    expect(reopen().devices()).toEqual([
      expect.objectContaining({
        id: ID,
        name: 'renamed',
        description: 'hall',
        attributes: { vendor: { value: 'acme' } },
      }),
    ]);
  });

  it('round-trips attributes: KubeEdge MsgAttrs in its columns, anything else as JSON', () => {
    const attributes = {
      serial: { value: 'SN-1', optional: false, metadata: { type: 'string' } },
      firmware: { value: '1.2' },
      location: { room: 12, tags: ['a'] },
      count: 3,
      note: 'plain string',
    };
    store.upsertDevice({ id: ID, attributes });
    expect(reopen().device(ID)?.attributes).toEqual(attributes);
    expect(peek('SELECT value, optional, attr_type FROM device_attr WHERE name = ?', 'serial')).toEqual([
      { value: 'SN-1', optional: 0, attr_type: 'string' },
    ]);
    store.upsertDevice({ id: ID, attributes: { only: { value: '1' } } });
    expect(store.device(ID)?.attributes).toEqual({ only: { value: '1' } });
  });

  it('removes a device with its attributes and twins; its outbox records stay until acked', async () => {
    store.upsertDevice({ id: ID, attributes: { a: { value: '1' } } });
    const pending = store.write(ID, { t: full }, { t: full });
    store.removeDevice(ID); // commits the queued write first
    await pending;
    expect(reopen().device(ID)).toBeUndefined();
    expect(store.twins(ID)).toEqual({});
    expect(peek('SELECT count(*) AS n FROM device_twin UNION ALL SELECT count(*) FROM device_attr')).toEqual([
      { n: 0 },
      { n: 0 },
    ]);
    expect(store.outbox().map((r) => [r.deviceId, Object.keys(r.twins)])).toEqual([[ID, ['t']]]);
    await expect(store.write(ID, { t: full })).rejects.toBeInstanceOf(TwinStoreUnknownDevice);
  });

  it('sets the state, keeping the last online time when none is given', async () => {
    await store.setState(ID, 'online', '2024-05-01T10:00:00Z');
    await store.setState(ID, 'offline');
    expect(reopen().device(ID)).toMatchObject({ state: 'offline', lastOnline: '2024-05-01T10:00:00Z' });
    await expect(store.setState('default/nobody', 'online')).rejects.toBeInstanceOf(TwinStoreUnknownDevice);
  });
});

describe('outbox', () => {
  it('keeps one record per device, the newest state of each twin, oldest first, until acked', async () => {
    store.upsertDevice({ id: 'default/b' });
    await store.write(ID, {}, { p1: v('1'), p2: v('1') });
    await store.write('default/b', {}, { p1: v('1') });
    const [first] = store.outbox();
    expect(first).toMatchObject({ deviceId: ID, twins: { p1: v('1'), p2: v('1') } });
    await store.write(ID, {}, { p1: v('2'), p3: null });
    const records = store.outbox();
    expect(records.map((r) => [r.deviceId, r.twins])).toEqual([
      ['default/b', { p1: v('1') }],
      [ID, { p2: v('1'), p1: v('2'), p3: null }],
    ]);
    expect(records.map((r) => r.seq)).toEqual([...records.map((r) => r.seq)].sort((a, b) => a - b));
    // The oldest write it holds.
    expect(records[1]?.createdAt).toBe(first?.createdAt);
    expect(store.outbox(1)).toHaveLength(1);

    // An ack of a replaced record deletes nothing: the newer values are still to be sent.
    store.ackOutbox([first!.seq, records[0]!.seq]);
    expect(store.outboxDepth()).toBe(1);
    expect(
      reopen()
        .outbox()
        .map((r) => r.twins),
    ).toEqual([{ p2: v('1'), p1: v('2'), p3: null }]);
    store.ackOutbox(store.outbox().map((r) => r.seq));
    expect(store.outboxDepth()).toBe(0);
  });

  it('writes one outbox row per device and one row per twin for a transaction of many reports', async () => {
    const report = (i: number) =>
      Object.fromEntries(Array.from({ length: 10 }, (_, p) => [`p${p}`, v(String(i))]));
    const writes = Array.from({ length: 50 }, (_, i) => store.write(ID, report(i), report(i)));
    await Promise.all(writes);
    expect(peek('SELECT count(*) AS n FROM device_twin UNION ALL SELECT count(*) FROM outbox')).toEqual([
      { n: 10 },
      { n: 1 },
    ]);
    expect(store.twins(ID).p9).toEqual(v('49'));
    expect(store.outbox()[0]?.twins).toEqual(report(49));
  });

  it('carries the records of a per-property outbox (schema 3) over, merged per device', () => {
    store.close();
    const old = join(dir, 'v3.db');
    const v3 = new Database(old);
    migrate(v3, undefined, 3);
    const put = v3.prepare(
      'INSERT INTO outbox (device_id, property, payload, created_at) VALUES (?, ?, ?, ?)',
    );
    put.run('default/x', 'a', JSON.stringify(v('1')), 10);
    put.run('default/y', 'a', null, 11);
    put.run('default/x', 'b', JSON.stringify(v('2')), 12);
    v3.close();
    store = TwinStore.open(old);
    expect(store.outbox().map((r) => [r.deviceId, r.twins, r.createdAt])).toEqual([
      ['default/x', { a: v('1'), b: v('2') }, 10],
      ['default/y', { a: null }, 11],
    ]);
  });
});

describe('group commit', () => {
  it('writes the same tick’s writes in one transaction, resolving after it committed', async () => {
    const devices = Array.from({ length: 10 }, (_, d) => `default/d${d}`);
    for (const id of devices) store.upsertDevice({ id });
    const before = store.commits;
    const writes = Array.from({ length: 1000 }, (_, i) =>
      store.write(devices[i % 10]!, { [`p${i}`]: { actual: { value: String(i) } } }, { [`p${i}`]: null }),
    );
    expect(peek('SELECT count(*) AS n FROM device_twin')).toEqual([{ n: 0 }]); // queued, not written yet
    await Promise.all(writes);
    expect(store.commits - before).toBe(1);
    // One outbox record per device.
    expect(peek('SELECT count(*) AS n FROM device_twin UNION ALL SELECT count(*) FROM outbox')).toEqual([
      { n: 1000 },
      { n: 10 },
    ]);
  });

  it('commits what the callbacks of one commit write in the next one', async () => {
    const before = store.commits;
    const chained = store
      .write(ID, { a: { actual: { value: '1' } } })
      .then(() =>
        Promise.all([store.write(ID, { b: { actual: { value: '1' } } }), store.setState(ID, 'online')]),
      );
    await chained;
    expect(store.commits - before).toBe(2);
  });

  it('rejects a failing write alone; the rest of its transaction commits', async () => {
    const good = store.write(ID, { a: { actual: { value: '1' } } });
    const bad = store.write('default/nobody', { a: { actual: { value: '1' } } }, { a: null });
    const alsoGood = store.setState(ID, 'online');
    await expect(bad).rejects.toThrow(/no device default\/nobody/);
    await Promise.all([good, alsoGood]);
    expect(peek('SELECT count(*) AS n FROM device_twin UNION ALL SELECT count(*) FROM outbox')).toEqual([
      { n: 1 },
      { n: 0 },
    ]);
  });

  it('refuses writes with TwinStoreFull when the queue holds maxPending changes', async () => {
    store.close();
    const warnings: string[] = [];
    const log: Logger = { ...silentLogger, warn: (_obj, msg) => warnings.push(msg ?? ''), child: () => log };
    store = TwinStore.open(file, { maxPending: 10, log });
    const accepted = Array.from({ length: 5 }, (_, i) =>
      store.write(ID, { [`p${i}`]: { actual: { value: '1' } } }, { [`p${i}`]: { actual: { value: '1' } } }),
    );
    const refused = store.write(ID, { x: { actual: { value: '1' } } });
    await expect(refused).rejects.toBeInstanceOf(TwinStoreFull);
    await expect(refused).rejects.toMatchObject({ code: 'TWIN_STORE_FULL', pending: 10, limit: 10 });
    expect(warnings).toEqual(['twin store queue full']);
    await Promise.all(accepted);
    expect(Object.keys(store.twins(ID))).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    await store.write(ID, { x: { actual: { value: '1' } } }); // room again once committed
  });

  it('refuses, until the next commit, the later writes of a device one of whose writes was refused', async () => {
    store.close();
    store = TwinStore.open(file, { maxPending: 10 });
    store.upsertDevice({ id: 'default/b' });
    const accepted = Array.from({ length: 4 }, (_, i) =>
      store.write(ID, { [`p${i}`]: v('1') }, { [`p${i}`]: v('1') }),
    );
    accepted.push(store.write(ID, { q: v('1') })); // 9 of 10 changes queued
    const refused = store.write(ID, { r: v('1') }, { r: v('1') });
    // It fits, but may have been built on the refused one: refused with it.
    const after = store.write(ID, { s: v('1') });
    const otherDevice = store.write('default/b', { s: v('1') });
    await expect(refused).rejects.toBeInstanceOf(TwinStoreFull);
    await expect(after).rejects.toBeInstanceOf(TwinStoreFull);
    await Promise.all([...accepted, otherDevice]);
    expect(Object.keys(store.twins(ID))).toEqual(['p0', 'p1', 'p2', 'p3', 'q']);
    await store.write(ID, { s: v('1') }); // taken again after the commit
    expect(store.twins(ID)).toHaveProperty('s');
  });

  it('holds again what a refused write-behind flush held, and commits it with the next flush', async () => {
    store.close();
    let failed!: () => void;
    const flushFailed = new Promise<void>((resolve) => {
      failed = resolve;
    });
    const log: Logger = { ...silentLogger, error: () => failed(), child: () => log };
    store = TwinStore.open(file, { writeBehindMs: 20, log });
    // A failure inside the store's own transaction, switched from a second connection.
    const other = new Database(file);
    other.exec(`
      CREATE TABLE test_fault (armed INTEGER NOT NULL); INSERT INTO test_fault VALUES (1);
      CREATE TRIGGER test_fault BEFORE INSERT ON device_twin WHEN (SELECT armed FROM test_fault)
      BEGIN SELECT RAISE(ABORT, 'injected I/O error'); END;
    `);
    try {
      const held = store.writeBehind(ID, { t: v('held') }, { t: v('held') });
      await flushFailed;
      expect(store.twins(ID)).toEqual({});
      other.exec('UPDATE test_fault SET armed = 0');
      await held; // settled by the flush that stored it
      expect(store.twins(ID)).toEqual({ t: v('held') });
      expect(store.outbox().find((r) => r.deviceId === ID)?.twins).toEqual({ t: v('held') });
    } finally {
      other.close();
    }
  });
});

describe('file', () => {
  it('is in WAL mode, with the current schema version', () => {
    expect(peek('PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }]);
    expect(peek('PRAGMA user_version')).toEqual([{ user_version: SCHEMA_VERSION }]);
  });

  it('migrates an empty file and an older schema', async () => {
    const empty = join(dir, 'empty.db');
    new Database(empty).close();
    TwinStore.open(empty).close();
    const tables = new Database(empty, { readonly: true });
    expect(tables.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(
      tables.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all(),
    ).toEqual(expect.arrayContaining(['device', 'device_attr', 'device_twin', 'outbox']));
    tables.close();

    const old = join(dir, 'v1.db');
    const v1 = new Database(old);
    migrate(v1, undefined, 1);
    v1.prepare("INSERT INTO device (id, namespace, name, state) VALUES (?, 'default', 'old', 'ok')").run(
      'default/old',
    );
    v1.prepare("INSERT INTO device_twin (deviceid, name, actual, attr_type) VALUES (?, 't', '7', 'int')").run(
      'default/old',
    );
    v1.close();
    const upgraded = TwinStore.open(old);
    expect(upgraded.twins('default/old')).toEqual({
      t: { actual: { value: '7' }, metadata: { type: 'int' } },
    });
    await upgraded.write('default/old', {}, { t: null });
    expect(upgraded.outboxDepth()).toBe(1);
    upgraded.close();
  });

  it('refuses a file written by a newer schema, and leaves it alone', () => {
    store.close();
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => TwinStore.open(file)).toThrow(TwinStoreSchemaError);
    expect(() => TwinStore.open(file)).toThrow(
      new RegExp(
        `schema version ${SCHEMA_VERSION + 1}, newer than this edgetwin knows \\(${SCHEMA_VERSION}\\)`,
      ),
    );
    expect(peek('PRAGMA user_version')).toEqual([{ user_version: SCHEMA_VERSION + 1 }]);
  });

  it('close() commits the queued writes, is safe twice, and later writes are refused', async () => {
    const pending = [store.write(ID, { t: full }, { t: full }), store.setState(ID, 'online', 'now')];
    store.close();
    store.close();
    await Promise.all(pending);
    await expect(store.write(ID, { t: full })).rejects.toBeInstanceOf(TwinStoreClosed);
    store = TwinStore.open(file);
    expect(store.twins(ID)).toEqual({ t: full });
    expect(store.device(ID)).toMatchObject({ state: 'online', lastOnline: 'now' });
    expect(store.outbox()).toEqual([expect.objectContaining({ deviceId: ID, twins: { t: full } })]);
  });

  it('writeBehind holds reports, newest per twin, and commits them in one transaction after the period', async () => {
    store.close();
    store = TwinStore.open(file, { writeBehindMs: 20 });
    store.upsertDevice({ id: 'default/b' });
    const before = store.commits;
    const held = [
      store.writeBehind(ID, { t: v('1'), u: v('1') }, { t: v('1'), u: v('1') }),
      store.writeBehind(ID, { t: v('2') }, { t: v('2') }),
      store.writeBehind('default/b', { t: v('b') }, { t: v('b') }),
    ];
    await Promise.all(held);
    expect(store.commits - before).toBe(1);
    expect(store.twins(ID)).toEqual({ t: v('2'), u: v('1') });
    expect(store.twins('default/b')).toEqual({ t: v('b') });
    expect(store.outbox().map((r) => [r.deviceId, r.twins])).toEqual([
      [ID, { t: v('2'), u: v('1') }],
      ['default/b', { t: v('b') }],
    ]);
  });

  it('a write wins over what writeBehind holds of the same twin; removeDevice and close() commit what is held', async () => {
    store.close();
    store = TwinStore.open(file, { writeBehindMs: 3_600_000 });
    store.upsertDevice({ id: 'default/b' });
    const held = store.writeBehind(ID, { t: v('held'), u: v('held') }, { t: v('held'), u: v('held') });
    await store.write(ID, { t: v('written') }, { t: v('written') });
    expect(store.twins(ID)).toEqual({ t: v('written') }); // u is still held: reads see committed state
    const heldOfB = store.writeBehind('default/b', { t: v('b') }, { t: v('b') });
    store.removeDevice('default/b');
    await heldOfB;
    expect(store.outbox().find((r) => r.deviceId === 'default/b')?.twins).toEqual({ t: v('b') });
    store.close();
    await held;
    store = TwinStore.open(file);
    expect(store.twins(ID)).toEqual({ t: v('written'), u: v('held') });
    expect(store.outbox().find((r) => r.deviceId === ID)?.twins).toEqual({ t: v('written'), u: v('held') });
    await expect(reopenClosed().writeBehind(ID, { t: v('late') })).rejects.toBeInstanceOf(TwinStoreClosed);
  });

  it('keeps the objects cloudcore sent, one per key, across a reopen', () => {
    const device = { device: { metadata: { name: 'm' } }, model: { metadata: { name: 'mm' } } };
    store.putCloudObject({ key: 'default/m', resourceVersion: '10', body: device });
    store.putCloudObject({ key: 'default/m', resourceVersion: '12', body: { ...device, extra: 1 } });
    store.putCloudObject({ key: 'default/gone', resourceVersion: '3', body: device });
    store.removeCloudObject('default/gone');
    store.close();
    store = TwinStore.open(file);
    expect(store.cloudObjects()).toEqual([
      { key: 'default/m', resourceVersion: '12', body: { ...device, extra: 1 } },
    ]);
  });

  it('works in memory', async () => {
    const memory = TwinStore.open(':memory:', { synchronous: 'FULL' });
    memory.upsertDevice({ id: ID });
    await memory.write(ID, { t: full });
    expect(memory.twins(ID)).toEqual({ t: full });
    memory.close();
  });
});
