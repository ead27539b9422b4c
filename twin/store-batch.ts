import type { MsgTwin } from '../device-models/index.js';
import type { TwinRow } from './store-rows.js';
import type { OutboxSqlRow, Statements } from './store-statements.js';

/** A cloud-bound twin as queued: its JSON, or null when the twin is reported removed. */
export type OutboxEntry = [property: string, json: string | null];

/** A device's outbox row as it is on disk: its seq, its twins (property → JSON, null: removed), its age. */
interface OutboxRow {
  seq: number;
  entries: ReadonlyMap<string, string | null>;
  createdAt: number;
}

/**
 * The outbox rows as they are on disk, kept in memory once read or written, so that a report merges into
 * its device's row without reading and parsing it again. Changed only by a committed transaction
 * (`WriteBatch.committed`) and by acks; a transaction that fails leaves it as it was.
 */
export class OutboxMirror {
  private readonly rows = new Map<string, OutboxRow>();
  private readonly devices = new Map<number, string>();

  constructor(private readonly sql: Statements) {}

  /** The device's row: from memory, or read once from disk. */
  get(id: string): OutboxRow | undefined {
    const known = this.rows.get(id);
    if (known) return known;
    const row = this.sql.outboxOf.get(id) as Pick<OutboxSqlRow, 'seq' | 'twins' | 'created_at'> | undefined;
    if (!row) return undefined;
    const twins = JSON.parse(row.twins) as Record<string, MsgTwin | null>;
    const entries = new Map(
      Object.entries(twins).map(([property, twin]) => [
        property,
        twin === null ? null : JSON.stringify(twin),
      ]),
    );
    const read = { seq: row.seq, entries, createdAt: row.created_at };
    this.set(id, read);
    return read;
  }

  set(id: string, row: OutboxRow): void {
    const before = this.rows.get(id);
    if (before) this.devices.delete(before.seq);
    this.rows.set(id, row);
    this.devices.set(row.seq, id);
  }

  /** The rows of these seqs were deleted (acked); a seq already replaced is not in memory any more. */
  acked(seqs: readonly number[]): void {
    for (const seq of seqs) {
      const id = this.devices.get(seq);
      if (id === undefined) continue;
      this.devices.delete(seq);
      this.rows.delete(id);
    }
  }
}

/**
 * What one group-commit transaction writes, coalesced: the operations of a transaction are staged here in
 * order, and `write()` (still inside the transaction) puts each (device, twin) row once, with its last value,
 * and one outbox row per device: its unacked record with this transaction's twins merged on top (newest
 * wins per property), under a new seq. So a device's report costs one row per changed twin and one outbox
 * row, however many properties it has and however many of its reports the transaction holds; and since
 * everything is written in the transaction that settles the writes' promises, an acknowledged write is
 * on disk exactly as before. `committed()` then tells the mirror what is now on disk.
 */
export class WriteBatch {
  private readonly twins = new Map<string, { id: string; name: string; row: TwinRow | null }>();
  private readonly outbox = new Map<string, { entries: Map<string, string | null>; at: number }>();
  private readonly written: [string, OutboxRow][] = [];
  private readonly removed = new Map<string, [string, string]>();

  constructor(
    private readonly sql: Statements,
    private readonly mirror: OutboxMirror,
  ) {}

  twin(id: string, name: string, row: TwinRow | null): void {
    const key = `${id}\u0000${name}`;
    this.twins.set(key, { id, name, row });
    if (row) this.removed.delete(key);
    else this.removed.set(key, [id, name]);
  }

  sync(id: string, entries: readonly OutboxEntry[], at: number): void {
    if (entries.length === 0) return;
    let staged = this.outbox.get(id);
    if (!staged) {
      staged = { entries: new Map(), at };
      this.outbox.set(id, staged);
    }
    for (const [property, json] of entries) staged.entries.set(property, json);
  }

  /** The (device, twin) rows this batch removes (their history goes with them). */
  removedTwins(): Iterable<[id: string, name: string]> {
    return this.removed.values();
  }

  write(): void {
    const { updateTwin, insertTwin, removeTwin, putOutbox } = this.sql;
    for (const { id, name, row } of this.twins.values()) {
      if (!row) {
        removeTwin.run(id, name);
        continue;
      }
      const values = [
        row.expected,
        row.actual,
        row.expected_meta,
        row.actual_meta,
        row.expected_version,
        row.actual_version,
        row.optional,
        row.attr_type,
        row.metadata,
        id,
        name,
      ];
      if (updateTwin.run(values).changes === 0) insertTwin.run(values);
    }
    for (const [id, { entries, at }] of this.outbox) {
      const older = this.mirror.get(id);
      const merged = older ? new Map([...older.entries, ...entries]) : entries;
      // The oldest unsent write's time: how long the cloud has been behind for this device.
      const createdAt = older ? Math.min(older.createdAt, at) : at;
      const { lastInsertRowid } = putOutbox.run(id, encode(merged), createdAt);
      this.written.push([id, { seq: Number(lastInsertRowid), entries: merged, createdAt }]);
    }
  }

  /** The transaction committed: the outbox rows written are what the mirror holds now. Then clear(). */
  committed(): void {
    for (const [id, row] of this.written) this.mirror.set(id, row);
    this.clear();
  }

  /**
   * Forgets what was staged and written, for the next transaction. Kept until then, a commit's rows would live
   * until the next commit (up to a write-behind tick): long enough for V8 to promote them to its old generation,
   * where only a full collection frees them.
   */
  clear(): void {
    this.twins.clear();
    this.outbox.clear();
    this.written.length = 0;
    this.removed.clear();
  }
}

/** `{"p":…}` from property → JSON without parsing the twins again. */
function encode(entries: ReadonlyMap<string, string | null>): string {
  const parts: string[] = [];
  for (const [property, json] of entries) parts.push(`${JSON.stringify(property)}:${json ?? 'null'}`);
  return `{${parts.join(',')}}`;
}
