import type Database from 'better-sqlite3';

/** The SQL of the twin store (tables: store-migrations.ts), and the shapes of the rows it reads. */

export interface DeviceSqlRow {
  id: string;
  namespace: string;
  name: string | null;
  description: string | null;
  state: string | null;
  last_online: string | null;
}

const TWIN_COLUMNS =
  'expected, actual, expected_meta, actual_meta, expected_version, actual_version, optional, attr_type, metadata';
const DEVICE_COLUMNS = 'id, namespace, name, description, state, last_online';

export interface OutboxSqlRow {
  seq: number;
  device_id: string;
  /** JSON of property → MsgTwin (null: the twin was removed). */
  twins: string;
  created_at: number;
}

export interface CloudObjectSqlRow {
  key: string;
  resource_version: string;
  body: string;
}

const SQL = {
  device: `SELECT ${DEVICE_COLUMNS} FROM device WHERE id = ?`,
  devices: `SELECT ${DEVICE_COLUMNS} FROM device ORDER BY id`,
  deviceIds: 'SELECT id FROM device',
  upsertDevice: `
    INSERT INTO device (${DEVICE_COLUMNS}) VALUES (@id, @namespace, @name, @description, @state, @last_online)
    ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace, name = excluded.name,
      description = excluded.description, state = excluded.state, last_online = excluded.last_online`,
  // ON DELETE CASCADE takes the device's attributes and twins with it.
  removeDevice: 'DELETE FROM device WHERE id = ?',
  setState: 'UPDATE device SET state = ?, last_online = coalesce(?, last_online) WHERE id = ?',
  attrs: 'SELECT name, value, optional, attr_type, metadata FROM device_attr WHERE deviceid = ? ORDER BY id',
  removeAttrs: 'DELETE FROM device_attr WHERE deviceid = ?',
  insertAttr: `
    INSERT INTO device_attr (deviceid, name, value, optional, attr_type, metadata)
    VALUES (@deviceid, @name, @value, @optional, @attr_type, @metadata)`,
  twins: `SELECT name, ${TWIN_COLUMNS} FROM device_twin WHERE deviceid = ? ORDER BY id`,
  allTwins: `SELECT deviceid, name, ${TWIN_COLUMNS} FROM device_twin ORDER BY deviceid, id`,
  // Positional, and an UPDATE first (a report rewrites rows that exist): half the cost of a named upsert.
  updateTwin: `
    UPDATE device_twin SET expected = ?, actual = ?, expected_meta = ?, actual_meta = ?, expected_version = ?,
      actual_version = ?, optional = ?, attr_type = ?, metadata = ?
    WHERE deviceid = ? AND name = ?`,
  insertTwin: `
    INSERT INTO device_twin (${TWIN_COLUMNS}, deviceid, name) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  removeTwin: 'DELETE FROM device_twin WHERE deviceid = ? AND name = ?',
  // REPLACE deletes the unacked older record of the device (merged into this one by store-batch.ts), and
  // the new row takes a new, higher seq.
  putOutbox: 'INSERT OR REPLACE INTO outbox (device_id, twins, created_at) VALUES (?, ?, ?)',
  outboxOf: 'SELECT seq, twins, created_at FROM outbox WHERE device_id = ?',
  outbox: 'SELECT seq, device_id, twins, created_at FROM outbox ORDER BY seq LIMIT ?',
  ackOutbox: 'DELETE FROM outbox WHERE seq = ?',
  outboxDepth: 'SELECT count(*) FROM outbox',
  cloudObjects: 'SELECT key, resource_version, body FROM cloud_object ORDER BY key',
  putCloudObject: `
    INSERT INTO cloud_object (key, resource_version, body) VALUES (?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET resource_version = excluded.resource_version, body = excluded.body`,
  removeCloudObject: 'DELETE FROM cloud_object WHERE key = ?',
};

export type Statements = { readonly [K in keyof typeof SQL]: Database.Statement };

/** Every statement the store runs, prepared once; `deviceIds` and `outboxDepth` return their single column. */
export function statements(db: Database.Database): Statements {
  const prepared = Object.fromEntries(Object.entries(SQL).map(([key, sql]) => [key, db.prepare(sql)]));
  const result = prepared as Statements;
  result.deviceIds.pluck();
  result.outboxDepth.pluck();
  return result;
}

/**
 * The history's SQL (store-history.ts): `twin_history` holds chunks of a twin's points keyed by (twin,
 * counter of the chunk's newest point); `twin_history_log` the points of each commit (one row each) that may not be in a chunk yet.
 */
const HISTORY_SQL = {
  series: 'SELECT id, deviceid, name, actual, actual_meta FROM device_twin',
  twinId: 'SELECT id FROM device_twin WHERE deviceid = ? AND name = ?',
  lastOf: 'SELECT max(last) FROM twin_history WHERE twin = ?',
  putChunk: 'INSERT OR REPLACE INTO twin_history (twin, last, t1, points) VALUES (?, ?, ?, ?)',
  oldest: 'SELECT last, t1 FROM twin_history WHERE twin = ? ORDER BY last LIMIT ?',
  dropUpTo: 'DELETE FROM twin_history WHERE twin = ? AND last <= ?',
  dropAll: 'DELETE FROM twin_history WHERE twin = ?',
  chunks: 'SELECT t1, points FROM twin_history WHERE twin = ? ORDER BY last DESC',
  putLog: 'INSERT OR REPLACE INTO twin_history_log (seq, points) VALUES (?, ?)',
  log: 'SELECT seq, points FROM twin_history_log ORDER BY seq',
  dropLog: 'DELETE FROM twin_history_log WHERE seq < ?',
};

export type HistoryStatements = { readonly [K in keyof typeof HISTORY_SQL]: Database.Statement };

/** The history's statements, prepared once; `twinId` and `lastOf` return their single column. */
export function historyStatements(db: Database.Database): HistoryStatements {
  const prepared = Object.fromEntries(
    Object.entries(HISTORY_SQL).map(([key, sql]) => [key, db.prepare(sql)]),
  );
  const result = prepared as HistoryStatements;
  result.twinId.pluck();
  result.lastOf.pluck();
  return result;
}
