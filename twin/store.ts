import Database from 'better-sqlite3';
import type { MsgTwin } from '../device-models/index.js';
import { type Logger, silentLogger } from '../sdk/logger.js';
import { spreadOf } from '../sdk/runtime/timers.js';
import { type OutboxEntry, OutboxMirror, WriteBatch } from './store-batch.js';
import { TwinStoreClosed, TwinStoreFull, TwinStoreUnknownDevice } from './store-errors.js';
import { createPrivateDbFile, restrictDbSidecars } from './store-file-mode.js';
import { GroupCommit } from './store-group-commit.js';
import { type HistoryOptions, type RecordedPoints, TwinHistory } from './store-history.js';
import { migrate } from './store-migrations.js';
import { type AttrRow, attrToRow, rowToAttr, rowToTwin, type TwinRow, twinToRow } from './store-rows.js';
import {
  type CloudObjectSqlRow,
  type DeviceSqlRow,
  type OutboxSqlRow,
  type Statements,
  statements,
} from './store-statements.js';
import type { DeviceTwins, HistoryPoint, HistoryQuery } from './types.js';

export interface DeviceRow {
  /** `{namespace}/{name}`. */
  id: string;
  namespace: string;
  name: string;
  description: string;
  state: string;
  lastOnline: string;
  attributes: Record<string, unknown>;
}

/**
 * A device's cloud-bound twin syncs waiting for the cloud's ack: the newest unacked state of each twin it
 * reported (null: the twin was removed), coalesced into one record per device.
 */
export interface OutboxRecord {
  seq: number;
  deviceId: string;
  twins: Record<string, MsgTwin | null>;
  /** ms since the epoch, when the oldest write it holds was made. */
  createdAt: number;
}

/** An object cloudcore sent: `key` is `{namespace}/{name}`, `body` the JSON it came as. */
export interface CloudObject {
  key: string;
  resourceVersion: string;
  body: unknown;
}

export interface TwinStoreOptions {
  log?: Logger;
  /**
   * How hard a commit is pushed to disk (the WAL is used either way).
   * - `NORMAL` (default): the WAL is synced at checkpoints only. A committed write survives a crash or kill
   *   of the process (it is in the OS's cache); a power loss or kernel crash may roll back the last commits,
   *   never corrupt the file.
   * - `FULL`: the WAL is synced at every commit, so a committed write survives a power loss too, at the
   *   price of one fsync per commit (DEPENDENCIES.md: ~9.3k vs ~100k single-row commits/s here).
   */
  synchronous?: 'NORMAL' | 'FULL';
  /** Changes (twins, sync records, state changes) queued before write() rejects with TwinStoreFull. */
  maxPending?: number;
  /** How long a statement waits for another connection's lock, in ms (default 5000). */
  busyTimeoutMs?: number;
  /**
   * How long `writeBehind` holds what it is given before committing it, ms (default 5000); 0 commits it like
   * `write`. What is held is coalesced: a device reporting every second writes its rows once per period.
   */
  writeBehindMs?: number;
  /**
   * The most SQLite's page cache holds, bytes (default DEFAULT_CACHE_BYTES). better-sqlite3 builds SQLite with
   * a 16 MB default: appended history pages fill it, so without a bound of its own the store's memory grows
   * for an hour or more after start until it holds 16 MB (measured: +0.28 MB/min at 100 devices).
   */
  cacheBytes?: number;
  /**
   * The history of reported values kept per twin (see `history()`): its newest `maxPoints` points (default
   * 10,000; 0 turns history off) younger than `maxAgeMs` (default 24 h).
   */
  history?: HistoryOptions;
}

/**
 * Whether the store can write: not when it is closed, nor after a commit failed (disk full, read-only, a lock
 * held past busy_timeout) until a later commit succeeds. A refused write alone (unknown device, queue full)
 * does not count.
 */
export interface TwinStoreHealth {
  writable: boolean;
  /** Why not: the last commit failure (message, SQLite code, when, ISO 8601), or the store being closed. */
  error?: { message: string; code?: string; at?: string };
}

/** Default of `cacheBytes`. */
export const DEFAULT_CACHE_BYTES = 2 * 1024 * 1024;

/** Default of `writeBehindMs`. */
export const DEFAULT_WRITE_BEHIND_MS = 5000;

/** What `writeBehind` holds for one device until the next flush: the newest row per twin and sync per property. */
interface Held {
  twins: Map<string, MsgTwin | null>;
  outbox: Map<string, MsgTwin | null>;
  /** When the first of what is held came. */
  at: number;
  /** When it is committed: at most writeBehindMs after `at` (see `dueAfter`). */
  due: number;
  /** The promise writeBehind hands out for it, and how to settle it. */
  settled: { promise: Promise<void>; resolve(): void; reject(error: unknown): void };
  /** Every reported value it was given, in order, for the history (not only the newest per twin). */
  points: RecordedPoints;
}

/** How often held writes are looked at: each device's are committed when due, so commits spread out. */
const HELD_TICK_MS = 200;

/** How often the history's chunks that aged out of twins that stopped reporting are looked for. */
const HISTORY_SWEEP_MS = 60_000;

/** Default bound of the write queue, in changes. */
export const DEFAULT_MAX_PENDING = 100_000;

type Operation =
  | {
      kind: 'write';
      id: string;
      twins: [string, TwinRow | null][];
      outbox: OutboxEntry[];
      at: number;
      points: Readonly<RecordedPoints> | undefined;
    }
  | { kind: 'state'; id: string; state: string; lastOnline: string | null };

/**
 * The DeviceTwin's SQLite store (DESIGN.md §5): devices, their attributes and twins in KubeEdge's tables,
 * and the outbox of cloud-bound syncs. Twin writes and state changes are group-committed (store-group-
 * commit.ts): their promises settle once the transaction holding them has committed, and a write's twins
 * and outbox records commit together or not at all. Reads see committed state only. The synchronous
 * methods (upsertDevice, removeDevice, ackOutbox) first commit what is queued, so all applies in call order.
 * Every reported value a write carries is also a point of its twin's history (store-history.ts), committed
 * with it, best-effort.
 */
export class TwinStore {
  private readonly queue: GroupCommit<Operation>;
  private closed = false;
  private readonly sql: Statements;
  private readonly mirror: OutboxMirror;
  private readonly batch: WriteBatch;
  /** The ids in the device table, so that a write finds its device without a query. */
  private readonly known: Set<string>;
  private readonly writeBehindMs: number;
  /** In the order they became held, so the due ones are at the front. */
  private readonly held = new Map<string, Held>();
  /** What flushHeld queued and is waiting for its commit: put back if refused, unless written since. */
  private readonly flushing = new Map<string, Held>();
  private heldTimer: NodeJS.Timeout | undefined;
  private readonly historyStore: TwinHistory;
  private readonly sweepTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private lastFailure: TwinStoreHealth['error'];

  private constructor(
    private readonly db: Database.Database,
    options: TwinStoreOptions,
  ) {
    this.sql = statements(db);
    this.known = new Set(this.sql.deviceIds.all() as string[]);
    this.mirror = new OutboxMirror(this.sql);
    this.batch = new WriteBatch(this.sql, this.mirror);
    this.writeBehindMs = options.writeBehindMs ?? DEFAULT_WRITE_BEHIND_MS;
    const log = options.log ?? silentLogger;
    this.log = log;
    this.historyStore = new TwinHistory(db, options.history ?? {}, log);
    const hooks = {
      keyOf: (op: Operation) => op.id,
      begin: () => {
        this.batch.clear(); // what a transaction that rolled back staged
        this.historyStore.begin();
      },
      apply: (op: Operation) => this.apply(op),
      end: () => {
        this.batch.write();
        this.historyStore.write(this.batch);
      },
      committed: () => {
        this.batch.committed();
        this.historyStore.committed();
        this.lastFailure = undefined;
      },
    };
    this.queue = new GroupCommit(db, hooks, options.maxPending ?? DEFAULT_MAX_PENDING, log);
    if (this.historyStore.enabled) {
      this.sweepTimer = setInterval(() => this.historyStore.sweep(), HISTORY_SWEEP_MS);
      this.sweepTimer.unref();
    }
  }

  /** Opens (creating or migrating) the store at `path`; ':memory:' for a throwaway one. */
  static open(path: string, options: TwinStoreOptions = {}): TwinStore {
    const synchronous = options.synchronous ?? 'NORMAL';
    if (synchronous !== 'NORMAL' && synchronous !== 'FULL')
      throw new TypeError(`synchronous must be NORMAL or FULL, not ${String(synchronous)}`);
    const log = options.log ?? silentLogger;
    createPrivateDbFile(path);
    const db = new Database(path);
    try {
      db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal' && !db.memory) log.warn({ file: path, mode }, 'twin store is not in WAL mode');
      restrictDbSidecars(path);
      db.pragma(`synchronous = ${synchronous}`);
      db.pragma('foreign_keys = ON');
      // Negative: a size in KiB rather than in pages.
      const cacheKiB = Math.max(64, Math.round((options.cacheBytes ?? DEFAULT_CACHE_BYTES) / 1024));
      db.pragma(`cache_size = -${cacheKiB}`);
      const version = migrate(db, log);
      log.debug({ file: path, version, synchronous }, 'twin store open');
      return new TwinStore(db, options);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  /** Read-only health signal (what /healthz reports): see TwinStoreHealth. */
  get health(): TwinStoreHealth {
    if (this.closed)
      return { writable: false, error: { message: 'twin store is closed', code: 'TWIN_STORE_CLOSED' } };
    return this.lastFailure ? { writable: false, error: this.lastFailure } : { writable: true };
  }

  /** Transactions committed by the group commit so far (a measure of batching, for tests and metrics). */
  get commits(): number {
    return this.queue.commits;
  }

  /**
   * Creates the device, or updates the fields given (the others are kept). A new device's namespace and
   * name default to the parts of `id` (`{namespace}/{name}`), its state to `unknown`. `attributes`, when
   * given, replaces all of them.
   */
  upsertDevice(row: Partial<DeviceRow> & { id: string }): void {
    this.queue.flush();
    this.db
      .transaction(() => {
        const slash = row.id.indexOf('/');
        const current: DeviceRow = this.device(row.id) ?? {
          id: row.id,
          namespace: slash < 0 ? '' : row.id.slice(0, slash),
          name: row.id.slice(slash + 1),
          description: '',
          state: 'unknown',
          lastOnline: '',
          attributes: {},
        };
        const next = { ...current, ...definedFields(row) };
        const { namespace, name, description, state, lastOnline } = next;
        this.sql.upsertDevice.run({
          id: row.id,
          namespace,
          name,
          description,
          state,
          last_online: lastOnline,
        });
        if (row.attributes === undefined) return;
        this.sql.removeAttrs.run(row.id);
        for (const [name, attr] of Object.entries(row.attributes))
          this.sql.insertAttr.run({ deviceid: row.id, ...attrToRow(name, attr) });
      })
      .immediate();
    this.known.add(row.id);
  }

  /** Removes the device with its attributes, twins and their history; its outbox records stay until acked. */
  removeDevice(id: string): void {
    void this.flushHeld();
    this.queue.flush();
    this.sql.removeDevice.run(id);
    this.known.delete(id);
    this.historyStore.forgetDevice(id);
  }

  devices(): DeviceRow[] {
    return (this.sql.devices.all() as DeviceSqlRow[]).map((row) => this.toDevice(row));
  }

  device(id: string): DeviceRow | undefined {
    const row = this.sql.device.get(id) as DeviceSqlRow | undefined;
    return row && this.toDevice(row);
  }

  /** Every twin of the device (none for an unknown device). */
  twins(id: string): DeviceTwins {
    const rows = this.sql.twins.all(id) as (TwinRow & { name: string })[];
    return Object.fromEntries(rows.map((row) => [row.name, rowToTwin(row)]));
  }

  /** Every device's twins (devices without twins included), to warm an in-memory cache at start. */
  allTwins(): Map<string, DeviceTwins> {
    const entries = new Map<string, [string, MsgTwin][]>();
    for (const { id } of this.sql.devices.all() as DeviceSqlRow[]) entries.set(id, []);
    for (const row of this.sql.allTwins.all() as (TwinRow & { deviceid: string; name: string })[])
      entries.get(row.deviceid)?.push([row.name, rowToTwin(row)]);
    return new Map([...entries].map(([id, twins]) => [id, Object.fromEntries(twins)]));
  }

  /**
   * Queues the changed twins (null: remove the row) and the cloud-bound sync records, and resolves once
   * the transaction holding them has committed. Rejects with TwinStoreUnknownDevice, TwinStoreFull (the
   * queue holds `maxPending` changes: nothing of this write is queued) or TwinStoreClosed. The arguments are
   * encoded at once, so changing them afterwards changes nothing.
   */
  write(
    id: string,
    changed: Record<string, MsgTwin | null>,
    sync: Record<string, MsgTwin | null> = {},
  ): Promise<void> {
    // What this write carries is newer than what is held of the same twins: a flush must not undo it,
    // nor a refused flush put it back.
    for (const held of [this.held.get(id), this.flushing.get(id)]) {
      if (!held) continue;
      for (const name of Object.keys(changed)) held.twins.delete(name);
      for (const name of Object.keys(sync)) held.outbox.delete(name);
    }
    const twins = Object.entries(changed).map(([name, twin]): [string, TwinRow | null] => [
      name,
      twin && twinToRow(twin),
    ]);
    const outbox = Object.entries(sync).map(
      ([name, twin]): OutboxEntry => [name, twin && JSON.stringify(twin)],
    );
    const size = Math.max(1, twins.length + outbox.length);
    return this.enqueue(
      { kind: 'write', id, twins, outbox, at: Date.now(), points: this.record(id, changed) },
      size,
    );
  }

  /**
   * Like `write`, but the change is held in memory and committed with everything else held, at most
   * `writeBehindMs` later (at once when that is 0), newest per twin: for reported values nobody waits on,
   * so that a device reporting every second does not rewrite its rows every second. A crash loses what is
   * held; `close()` and `removeDevice` commit it first. Resolves once committed; rejects as `write` does.
   */
  writeBehind(
    id: string,
    changed: Record<string, MsgTwin | null>,
    sync: Record<string, MsgTwin | null> = {},
  ): Promise<void> {
    if (this.writeBehindMs === 0) return this.write(id, changed, sync);
    if (this.closed) return Promise.reject(new TwinStoreClosed());
    let held = this.held.get(id);
    if (!held) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => {}); // callers that did not wait are told by the log
      held = {
        twins: new Map(),
        outbox: new Map(),
        at: Date.now(),
        due: Date.now() + this.dueAfter(id),
        settled: { promise, resolve, reject },
        points: [],
      };
      this.held.set(id, held);
    }
    if (this.known.has(id)) this.historyStore.record(id, changed, held.points);
    // Encoded when flushed, once per twin however many reports it got. An update hands over new twins; a report
    // written in place (twin/report-in-place.ts) hands over the same twin again, written into: either way
    // what is encoded is the twin's latest state.
    for (const name in changed) if (Object.hasOwn(changed, name)) held.twins.set(name, changed[name]!);
    for (const name in sync) if (Object.hasOwn(sync, name)) held.outbox.set(name, sync[name]!);
    if (!this.heldTimer) this.startHeldTimer();
    return held.settled.promise;
  }

  /** Queues the device's state (and last online time, kept when not given) like write(). */
  setState(id: string, state: string, lastOnline?: string): Promise<void> {
    return this.enqueue({ kind: 'state', id, state, lastOnline: lastOnline ?? null }, 1);
  }

  /**
   * Reported values of one twin, oldest first (in the order recorded): the newest `limit` (default 1000, at
   * most 10,000) points at or after `since` (ms since the epoch) within the retention (TwinStoreOptions.
   * history). A point is each reported value whose value or metadata timestamp differs from the twin's
   * previous one, so a device reporting the same value every second makes a point every second, and a
   * change of the desired value alone makes none. Committed points only, as for the twins: what writeBehind
   * holds shows once it is committed. None for an unknown device or twin, or with history off. Throws
   * TypeError for a `since` that is not a number or a `limit` that is not an integer ≥ 0.
   */
  history(id: string, property: string, query?: HistoryQuery): HistoryPoint[] {
    return this.historyStore.read(id, property, query);
  }

  /** How much history is kept per twin (`maxPoints` 0: history is off). */
  get historyRetention(): { maxPoints: number; maxAgeMs: number } {
    const { maxPoints, maxAgeMs } = this.historyStore;
    return { maxPoints, maxAgeMs };
  }

  /** Up to `limit` (default 1000) outbox records, oldest first; one per device. */
  outbox(limit = 1000): OutboxRecord[] {
    const rows = this.sql.outbox.all(limit) as OutboxSqlRow[];
    return rows.map((row) => ({
      seq: row.seq,
      deviceId: row.device_id,
      twins: JSON.parse(row.twins) as Record<string, MsgTwin | null>,
      createdAt: row.created_at,
    }));
  }

  /** Deletes the records the cloud acknowledged. A seq already replaced by a newer record is ignored. */
  ackOutbox(seqs: number[]): void {
    this.queue.flush();
    this.db
      .transaction(() => {
        for (const seq of seqs) this.sql.ackOutbox.run(seq);
      })
      .immediate();
    this.mirror.acked(seqs);
  }

  outboxDepth(): number {
    return this.sql.outboxDepth.get() as number;
  }

  /** The objects cloudcore sent, as they were stored (cloud-objects: edge autonomy after a restart). */
  cloudObjects(): CloudObject[] {
    return (this.sql.cloudObjects.all() as CloudObjectSqlRow[]).map((row) => ({
      key: row.key,
      resourceVersion: row.resource_version,
      body: JSON.parse(row.body) as unknown,
    }));
  }

  /** Stores (or replaces) a cloud object; committed when this returns. */
  putCloudObject(object: CloudObject): void {
    this.queue.flush();
    this.sql.putCloudObject.run(object.key, object.resourceVersion, JSON.stringify(object.body));
  }

  removeCloudObject(key: string): void {
    this.queue.flush();
    this.sql.removeCloudObject.run(key);
  }

  /** Commits the held and queued writes, then closes the database. Safe twice. */
  close(): void {
    if (this.closed) return;
    void this.flushHeld();
    this.closed = true;
    this.queue.close();
    clearInterval(this.sweepTimer);
    this.historyStore.compactAll();
    this.db.close();
  }

  /**
   * Queues `op`, noting a commit failure for `health`. Its flush is the first after now, so when no commit
   * happened since, the failure is the newest news; otherwise a later commit succeeded and it is old news.
   */
  private enqueue(op: Operation, size: number): Promise<void> {
    const commits = this.queue.commits;
    return this.queue.enqueue(op, size).catch((error: unknown) => {
      const refusedAlone =
        error instanceof TwinStoreUnknownDevice ||
        error instanceof TwinStoreFull ||
        error instanceof TwinStoreClosed;
      if (!refusedAlone && this.queue.commits === commits)
        this.lastFailure = {
          message: (error as Error)?.message ?? String(error),
          ...((error as { code?: unknown })?.code ? { code: String((error as { code: unknown }).code) } : {}),
          at: new Date().toISOString(),
        };
      throw error;
    });
  }

  /**
   * The history points of a write: its reported values, after those writeBehind holds of the device (older,
   * they would otherwise be committed after it).
   */
  private record(id: string, changed: Record<string, MsgTwin | null>): RecordedPoints | undefined {
    if (!this.known.has(id)) return undefined;
    const points = this.historyStore.record(id, changed);
    const held = this.held.get(id);
    if (!held || held.points.length === 0) return points;
    const earlier = held.points;
    held.points = [];
    return points ? earlier.concat(points) : earlier;
  }

  /**
   * One queued operation, inside the group transaction: a state is written at once; a write's rows are
   * staged in the batch, which writes them, coalesced, at the end of the transaction.
   */
  private apply(op: Operation): void {
    if (!this.known.has(op.id)) throw new TwinStoreUnknownDevice(op.id);
    if (op.kind === 'state') {
      this.sql.setState.run(op.state, op.lastOnline, op.id);
      return;
    }
    for (const [name, row] of op.twins) this.batch.twin(op.id, name, row);
    this.batch.sync(op.id, op.outbox, op.at);
    if (op.points) this.historyStore.stage(op.points);
  }

  /**
   * Queues what `writeBehind` holds that is due by `now` (default: all of it), one write per device, and
   * settles their promises once committed.
   */
  private async flushHeld(now = Number.POSITIVE_INFINITY): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const [id, held] of this.held) {
      if (held.due > now) continue;
      this.held.delete(id);
      const twins = [...held.twins].map(([name, twin]): [string, TwinRow | null] => [
        name,
        twin && twinToRow(twin),
      ]);
      const outbox = [...held.outbox].map(
        ([name, twin]): OutboxEntry => [name, twin && JSON.stringify(twin)],
      );
      const size = Math.max(1, twins.length + outbox.length);
      const write = this.enqueue(
        { kind: 'write', id, twins, outbox, at: held.at, points: held.points },
        size,
      );
      this.flushing.set(id, held);
      writes.push(
        write.then(
          () => {
            if (this.flushing.get(id) === held) this.flushing.delete(id);
            held.settled.resolve();
          },
          (error: unknown) => {
            if (this.flushing.get(id) === held) this.flushing.delete(id);
            this.holdAgain(id, held);
            throw error;
          },
        ),
      );
    }
    if (this.held.size === 0 && this.heldTimer) {
      clearInterval(this.heldTimer);
      this.heldTimer = undefined;
    }
    const failed = (await Promise.allSettled(writes)).filter((o) => o.status === 'rejected');
    if (failed.length > 0)
      this.log.error(
        { err: ((failed[0] as PromiseRejectedResult).reason as Error)?.message, devices: failed.length },
        'twin store: reported values held for write-behind were not stored; held for the next flush',
      );
  }

  /**
   * A refused flush of what was held: held again (what the twin module shows must reach the database once
   * it can be written), under anything newer held or written of the same twins since. Its promise stays
   * the one handed out, settled by the next flush. Dropped once the store is closed or the device removed.
   */
  private holdAgain(id: string, refused: Held): void {
    if (this.closed || !this.known.has(id)) {
      refused.settled.reject(new TwinStoreClosed());
      return;
    }
    const current = this.held.get(id);
    if (current) {
      for (const [name, twin] of refused.twins) if (!current.twins.has(name)) current.twins.set(name, twin);
      for (const [name, twin] of refused.outbox)
        if (!current.outbox.has(name)) current.outbox.set(name, twin);
      current.points = refused.points.concat(current.points);
      current.settled.promise.then(refused.settled.resolve, refused.settled.reject);
    } else {
      // Due again a full period on.
      refused.due = Date.now() + this.writeBehindMs;
      this.held.set(id, refused);
    }
    if (!this.heldTimer) this.startHeldTimer();
  }

  /**
   * How long what a device reports is held: between half of writeBehindMs and all of it, at a place of the
   * device's own. Devices that started together (and so began holding together) are then committed a few at
   * a time over several ticks, not in one transaction that holds the event loop for tens of milliseconds.
   */
  private dueAfter(id: string): number {
    return this.writeBehindMs * (1 - spreadOf(id) / 2);
  }

  private startHeldTimer(): void {
    const tick = Math.min(HELD_TICK_MS, this.writeBehindMs);
    this.heldTimer = setInterval(() => void this.flushHeld(Date.now()), tick);
    this.heldTimer.unref();
  }

  private toDevice(row: DeviceSqlRow): DeviceRow {
    const attrs = this.sql.attrs.all(row.id) as AttrRow[];
    return {
      id: row.id,
      namespace: row.namespace,
      name: row.name ?? '',
      description: row.description ?? '',
      state: row.state ?? '',
      lastOnline: row.last_online ?? '',
      attributes: Object.fromEntries(attrs.map((attr) => [attr.name, rowToAttr(attr)])),
    };
  }
}

function definedFields<T extends object>(row: T): Partial<T> {
  return Object.fromEntries(Object.entries(row).filter(([, value]) => value !== undefined)) as Partial<T>;
}
