import type { MsgTwin } from '../device-models/index.js';
import type { TwinRow } from './store-rows.js';
import type { OutboxSqlRow, Statements } from './store-statements.js';

/** A cloud-bound twin as queued: its JSON, or null when the twin is reported removed. */
export type OutboxEntry = [property: string, json: string | null];

/**
 * What one group-commit transaction writes, coalesced: the operations of a transaction are staged here in
 * order, and `write()` (still inside the transaction) puts each (device, twin) row once, with its last value,
 * and one outbox row per device: its unacked record with this transaction's twins merged on top (newest
 * wins per property), under a new seq. So a device's report costs one row per changed twin and one outbox
 * row, however many properties it has and however many of its reports the transaction holds; and since
 * everything is written in the transaction that settles the writes' promises, an acknowledged write is
 * on disk exactly as before.
 */
export class WriteBatch {
  private readonly twins = new Map<string, { id: string; name: string; row: TwinRow | null }>();
  private readonly outbox = new Map<string, { entries: Map<string, string | null>; at: number }>();

  constructor(private readonly sql: Statements) {}

  twin(id: string, name: string, row: TwinRow | null): void {
    this.twins.set(`${id}\u0000${name}`, { id, name, row });
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

  write(): void {
    for (const { id, name, row } of this.twins.values()) {
      if (row) this.sql.putTwin.run({ deviceid: id, name, ...row });
      else this.sql.removeTwin.run(id, name);
    }
    for (const [id, { entries, at }] of this.outbox) {
      const older = this.sql.outboxOf.get(id) as Pick<OutboxSqlRow, 'twins' | 'created_at'> | undefined;
      const twins = older ? merge(older.twins, entries) : encode(entries);
      // The oldest unsent write's time: how long the cloud has been behind for this device.
      this.sql.putOutbox.run(id, twins, older ? Math.min(older.created_at, at) : at);
    }
  }
}

/** `{"p":…}` from property → JSON without parsing the twins again. */
function encode(entries: Map<string, string | null>): string {
  const parts: string[] = [];
  for (const [property, json] of entries) parts.push(`${JSON.stringify(property)}:${json ?? 'null'}`);
  return `{${parts.join(',')}}`;
}

function merge(olderJson: string, newer: Map<string, string | null>): string {
  const older = JSON.parse(olderJson) as Record<string, MsgTwin | null>;
  const entries = new Map<string, string | null>();
  for (const [property, twin] of Object.entries(older))
    if (!newer.has(property)) entries.set(property, twin === null ? null : JSON.stringify(twin));
  for (const [property, json] of newer) entries.set(property, json);
  return encode(entries);
}
