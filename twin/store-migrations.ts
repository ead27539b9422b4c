import type Database from 'better-sqlite3';
import type { Logger } from '../sdk/logger.js';
import { TwinStoreSchemaError } from './store-errors.js';

/**
 * The twin store's schema, one migration per version: migration i takes a file from `user_version` i to
 * i + 1, in the same transaction as the version bump, so a crash mid-upgrade leaves the old version.
 * Append only: never edit a migration that has shipped.
 */
export type Migration = (db: Database.Database) => void;

export const MIGRATIONS: readonly Migration[] = [
  // 1: KubeEdge's tables and columns (edge/pkg/devicetwin/dtclient), every value column TEXT as there,
  // plus what edgetwin needs on them: `namespace` on device, a unique (deviceid, name) per attribute and
  // twin, and cascading deletes. KubeEdge has no foreign keys; here a twin cannot outlive its device.
  (db) => {
    db.exec(`
      CREATE TABLE device (
        id TEXT PRIMARY KEY NOT NULL,
        namespace TEXT NOT NULL DEFAULT '',
        name TEXT,
        description TEXT,
        state TEXT,
        last_online TEXT
      );
      CREATE TABLE device_attr (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        deviceid TEXT NOT NULL REFERENCES device(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        description TEXT,
        value TEXT,
        optional INTEGER,
        attr_type TEXT,
        metadata TEXT,
        UNIQUE (deviceid, name)
      );
      CREATE TABLE device_twin (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        deviceid TEXT NOT NULL REFERENCES device(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        description TEXT,
        expected TEXT,
        actual TEXT,
        expected_meta TEXT,
        actual_meta TEXT,
        expected_version TEXT,
        actual_version TEXT,
        optional INTEGER,
        attr_type TEXT,
        metadata TEXT,
        UNIQUE (deviceid, name)
      );
    `);
  },
  // 2: edgetwin's persistent outbox of cloud-bound twin syncs (DESIGN.md §6), one row per (device,
  // property): a newer record replaces the unacked older one and takes a new seq. No foreign key: records
  // of a removed device are still delivered.
  (db) => {
    db.exec(`
      CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL,
        property TEXT NOT NULL,
        payload TEXT,
        created_at INTEGER NOT NULL,
        UNIQUE (device_id, property)
      );
    `);
  },
  // 3: the objects cloudcore sent (a Device with its DeviceModel, as JSON), so that edgecore runs them
  // again after a restart with the cloud out of reach (edge autonomy), and drops an older resourceVersion.
  (db) => {
    db.exec(`
      CREATE TABLE cloud_object (
        key TEXT PRIMARY KEY NOT NULL,
        resource_version TEXT NOT NULL,
        body TEXT NOT NULL
      );
    `);
  },
  // 4: the outbox keeps one record per device (the JSON of its unacked twins, newest per property) instead
  // of one per (device, property): a report of ten properties writes one outbox row, not ten. Unacked
  // records are carried over, merged per device, in the order of their oldest seq.
  (db) => {
    db.exec(`
      CREATE TABLE outbox_by_device (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        device_id TEXT NOT NULL UNIQUE,
        twins TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      INSERT INTO outbox_by_device (device_id, twins, created_at)
        SELECT device_id, json_group_object(property, json(payload)), min(created_at)
        FROM outbox GROUP BY device_id ORDER BY min(seq);
      DROP TABLE outbox;
      ALTER TABLE outbox_by_device RENAME TO outbox;
    `);
  },
  // 5: the history of reported values (store-history.ts), by `device_twin.id` (AUTOINCREMENT: never
  // reused): chunks of a twin's points, and the log of each commit's points (one row per commit) until they
  // are in chunks. A twin's chunks go with its row (and so with its device); the log expires on its own.
  // Chunks are rows in the order written, found by an index on (twin, counter of the newest point): keyed
  // by twin itself (WITHOUT ROWID), each chunk inserted in the middle of the B-tree split pages and wrote
  // 2.7 times the bytes (13.0 against 4.9 KB per 800-byte chunk at 10,000 twins), and could not exceed
  // ~1,000 bytes without overflow pages.
  (db) => {
    db.exec(`
      CREATE TABLE twin_history (
        id INTEGER PRIMARY KEY,
        twin INTEGER NOT NULL,
        last INTEGER NOT NULL,
        t1 INTEGER NOT NULL,
        points TEXT NOT NULL
      );
      CREATE UNIQUE INDEX twin_history_twin ON twin_history (twin, last);
      CREATE TABLE twin_history_log (
        seq INTEGER PRIMARY KEY,
        points TEXT NOT NULL
      );
      CREATE TRIGGER device_twin_history AFTER DELETE ON device_twin
      BEGIN
        DELETE FROM twin_history WHERE twin = old.id;
      END;
    `);
  },
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the file up to `target` (default: SCHEMA_VERSION). Throws TwinStoreSchemaError for a file newer
 * than this code knows (it was written by a later edgetwin: opening it could lose data) or a failed step.
 */
export function migrate(db: Database.Database, log?: Logger, target = SCHEMA_VERSION): number {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > SCHEMA_VERSION)
    throw new TwinStoreSchemaError(
      `${db.name} has twin store schema version ${from}, newer than this edgetwin knows (${SCHEMA_VERSION}): ` +
        'upgrade edgetwin, or restore a backup made by this version',
    );
  for (let version = from; version < target; version++) {
    const step = MIGRATIONS[version]!;
    try {
      db.transaction(() => {
        step(db);
        db.pragma(`user_version = ${version + 1}`);
      }).immediate();
    } catch (cause) {
      throw new TwinStoreSchemaError(
        `${db.name}: migrating the twin store from version ${version} to ${version + 1} failed: ${String(cause)}`,
        { cause },
      );
    }
    log?.info({ file: db.name, from: version, to: version + 1 }, 'twin store schema migrated');
  }
  return Math.max(from, target);
}
