import type Database from 'better-sqlite3';
import type { MsgTwin } from '../device-models/index.js';
import type { Logger } from '../sdk/logger.js';
import type { WriteBatch } from './store-batch.js';
import { HistoryChunks } from './store-history-chunks.js';
import {
  addSegment,
  decodeLog,
  encodeLog,
  encodeSegment,
  type LogEntry,
  latest,
  noSegments,
  type Points,
  type Segments,
} from './store-history-codec.js';
import { type HistoryStatements, historyStatements } from './store-statements.js';
import type { HistoryPoint, HistoryQuery } from './types.js';

/** How much history of reported values the store keeps per twin (TwinStoreOptions.history). */
export interface HistoryOptions {
  /** The newest points kept per twin (default 10,000); 0 turns history off. */
  maxPoints?: number;
  /** How old a kept point may be, ms (default 24 h). */
  maxAgeMs?: number;
}

export const DEFAULT_HISTORY_MAX_POINTS = 10_000;
export const DEFAULT_HISTORY_MAX_AGE_MS = 24 * 3600_000;
/** `limit` of a history query when none is given, and the most it may be. */
export const HISTORY_DEFAULT_LIMIT = 1000;
export const HISTORY_MAX_LIMIT = 10_000;

/**
 * A twin's points are moved out of the log into a chunk of their own once their text (as logged, a little
 * longer than in a chunk) is this long: larger chunks write fewer bytes a point (800-byte chunks 6.1 KB
 * written per KB, 1,600-byte ones 3.5), and cost memory (the points wait in memory too)…
 */
const CHUNK_FILL = 1600;
/** …or they are this many (or maxPoints, if fewer)… */
const CHUNK_POINTS = 256;
/** …or the oldest of them was committed this long ago (which bounds the log, and the memory). */
const CHUNK_AGE_MS = 120_000;
/** Chunks written per group commit at most, so that no commit stalls on a backlog. */
const CHUNKS_PER_COMMIT = 500;
/** Twins the periodic sweep looks at, at most, for history older than maxAgeMs. */
const SWEEP_TWINS = 1000;
/** History write failures are logged at most this often. */
const FAILURE_LOG_MS = 60_000;

/** One twin's history in memory: what it last recorded, and its points not yet in a chunk. */
export interface Series {
  readonly deviceId: string;
  readonly name: string;
  /** Its `device_twin.id`, once its row was committed. */
  id: number | undefined;
  /** The newest point recorded: a report with the same value and timestamp is not a new point. */
  lastV: string | undefined;
  lastT: number | undefined;
  /** Counter of `buffer`'s first point (points are counted per twin from 0); read from disk when needed. */
  base: number | undefined;
  /** Committed points that are in the log and not yet in a chunk, oldest first, as they were logged. */
  buffer: Segments;
  /** When `buffer` got its first point. */
  since: number;
  /** Whether it may have chunks on disk (the sweep's hint). */
  chunks: boolean;
  /** Its device or twin was removed. */
  gone: boolean;
}

/**
 * Reported values recorded when a write is queued, and committed with it: `series, t, v` after one another
 * (flat: no array per point).
 */
export type RecordedPoints = (Series | number | string)[];

/** What a group transaction wrote to the history, applied to memory once it committed. */
interface Plan {
  seq: number;
  now: number;
  ids: [Series, number][];
  chunked: [Series, last: number][];
  logged: [Series, segment: string, count: number, t1: number][];
  floor: number;
}

/**
 * The history of reported values, per twin (DESIGN.md §5, beyond KubeEdge): every reported value whose value
 * or timestamp differs from the twin's previous one is a point, kept while it is among the twin's newest
 * `maxPoints` and younger than `maxAgeMs`. Best-effort: it is written in the twin's group commit, in a
 * savepoint of its own, so a failure loses points and never a twin write; a crash loses what the commit had
 * not written yet (what writeBehind held).
 *
 * Writing a twin's new points where its older ones are (one B-tree leaf per twin) would dirty a page per
 * twin per commit: at 10,000 twins reporting every second, ~40 MB of WAL per write-behind flush. So a
 * commit appends the new points of all its twins as one row of `twin_history_log`, and they are also kept
 * in memory (as the text they were logged as); once a twin has CHUNK_FILL characters of them, or the oldest
 * was committed CHUNK_AGE_MS ago, a later commit writes them as a row of `twin_history` (a chunk, indexed
 * by twin and the counter of its newest point) and drops the twin's chunks that fell out of the retention;
 * the log rows every twin has moved on from are deleted. At open, the points of the log not yet in chunks
 * are read back into memory. A query reads the twin's points in memory, then its chunks, newest first.
 */
export class TwinHistory {
  readonly maxPoints: number;
  readonly maxAgeMs: number;
  private readonly chunkPoints: number;
  private readonly sql: HistoryStatements | undefined;
  private readonly chunks: HistoryChunks | undefined;
  private readonly devices = new Map<string, Map<string, Series>>();
  private readonly byId = new Map<number, Series>();
  /** Series with points in the log, in the order they got their first, with that log row's seq. */
  private readonly buffered = new Map<Series, number>();
  /** Series with enough points in the log for a chunk (isFull): chunked by the next commit. */
  private readonly full = new Set<Series>();
  /** The newest log seq committed, and the lowest one the log may still hold. */
  private seq = 0;
  private floor = 0;
  private staged = new Map<Series, Points>();
  private plan: Plan | undefined;
  /** The series whose twins the transaction removes. */
  private removed: Series[] = [];
  private sweepCursor: Iterator<Series> | undefined;
  private failure = { count: 0, loggedAt: Number.NEGATIVE_INFINITY };
  private readonly writeTx: (removed: ReadonlySet<Series>, now: number) => Plan;

  constructor(
    private readonly db: Database.Database,
    options: HistoryOptions,
    private readonly log: Logger,
  ) {
    this.maxPoints = options.maxPoints ?? DEFAULT_HISTORY_MAX_POINTS;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_HISTORY_MAX_AGE_MS;
    if (!Number.isSafeInteger(this.maxPoints) || this.maxPoints < 0)
      throw new TypeError(`history.maxPoints must be an integer ≥ 0, not ${String(this.maxPoints)}`);
    if (!(this.maxAgeMs > 0))
      throw new TypeError(`history.maxAgeMs must be a number > 0, not ${String(this.maxAgeMs)}`);
    this.chunkPoints = Math.min(CHUNK_POINTS, this.maxPoints);
    this.writeTx = db.transaction((removed: ReadonlySet<Series>, now: number) =>
      this.writeInTransaction(removed, now),
    );
    if (!this.enabled) return;
    this.sql = historyStatements(db);
    this.chunks = new HistoryChunks(this.sql, this);
    this.load();
  }

  get enabled(): boolean {
    return this.maxPoints > 0;
  }

  /**
   * The points of `changed` to record: each twin's actual value, at its metadata timestamp (else now),
   * unless it is the point the twin recorded last (an update that left the reported value alone). Pushed
   * onto `into` when given (and `into` returned), else onto a new list; undefined when there are none.
   */
  record(
    deviceId: string,
    changed: Record<string, MsgTwin | null>,
    into?: RecordedPoints,
  ): RecordedPoints | undefined {
    if (!this.enabled) return undefined;
    let points: RecordedPoints | undefined = into;
    for (const name in changed) {
      const actual = changed[name]?.actual;
      const v = actual?.value;
      if (typeof v !== 'string') continue;
      const stamp = actual!.metadata?.timestamp;
      const t = typeof stamp === 'number' && Number.isFinite(stamp) ? stamp : Date.now();
      const series = this.series(deviceId, name);
      if (series.lastV === v && series.lastT === t) continue;
      series.lastV = v;
      series.lastT = t;
      points ??= [];
      points.push(series, t, v);
    }
    return points;
  }

  /** A group transaction begins: nothing is staged. */
  begin(): void {
    this.staged = new Map();
    this.plan = undefined;
    this.removed = [];
  }

  /** Points of an operation of the transaction. */
  stage(points: Readonly<RecordedPoints>): void {
    for (let i = 0; i < points.length; i += 3) {
      const series = points[i] as Series;
      if (series.gone) continue;
      const t = points[i + 1] as number;
      const v = points[i + 2] as string;
      let staged = this.staged.get(series);
      if (!staged) {
        staged = { ts: [], vs: [] };
        this.staged.set(series, staged);
      }
      staged.ts.push(t);
      staged.vs.push(v);
    }
  }

  /**
   * Inside the group transaction, once `batch` wrote the twins: writes what was staged, and the chunks that
   * are due, in a savepoint. A failure is logged and rolls back the history's part alone.
   */
  write(batch: WriteBatch): void {
    this.plan = undefined;
    this.removed = [];
    if (!this.enabled) return;
    // Twins whose rows go (their chunks with them): forgotten once committed, whatever becomes of the history.
    for (const [deviceId, name] of batch.removedTwins()) {
      const series = this.devices.get(deviceId)?.get(name);
      if (series) this.removed.push(series);
    }
    const now = Date.now();
    const head = this.buffered.entries().next().value;
    const due = head !== undefined && head[0].since <= now - CHUNK_AGE_MS;
    if (this.staged.size === 0 && this.full.size === 0 && !due) return;
    try {
      this.plan = this.writeTx(new Set(this.removed), now);
    } catch (error) {
      this.failed(error, this.staged.size);
    }
  }

  /** The transaction committed: memory follows what it wrote. */
  committed(): void {
    const plan = this.plan;
    this.plan = undefined;
    this.staged = new Map();
    for (const series of this.removed) this.drop(series);
    this.removed = [];
    if (!plan) return;
    for (const [series, id] of plan.ids) {
      series.id = id;
      this.byId.set(id, series);
    }
    for (const [series, last] of plan.chunked) {
      series.base = last + 1;
      series.buffer = noSegments();
      series.chunks = true;
      this.buffered.delete(series);
      this.full.delete(series);
    }
    for (const [series, segment, count, t1] of plan.logged) {
      if (series.buffer.count === 0) {
        series.since = plan.now;
        this.buffered.set(series, plan.seq);
      }
      addSegment(series.buffer, segment, count, t1);
      if (this.isFull(series.buffer)) this.full.add(series);
    }
    this.seq = plan.seq;
    this.floor = plan.floor;
  }

  /** The device was removed (its twins' rows, and with them their chunks, are gone). */
  forgetDevice(deviceId: string): void {
    for (const series of this.devices.get(deviceId)?.values() ?? []) this.drop(series);
  }

  /** A twin's points, oldest first: see TwinStore.history. */
  read(deviceId: string, name: string, query: HistoryQuery = {}, now = Date.now()): HistoryPoint[] {
    const { since, limit = HISTORY_DEFAULT_LIMIT } = query;
    if (since !== undefined && (typeof since !== 'number' || Number.isNaN(since)))
      throw new TypeError(`history query: since must be a number (ms since the epoch), not ${String(since)}`);
    if (!Number.isSafeInteger(limit) || limit < 0)
      throw new TypeError(`history query: limit must be an integer ≥ 0, not ${String(limit)}`);
    const series = this.devices.get(deviceId)?.get(name);
    if (!series || !this.chunks) return [];
    const cutoff = Math.max(since ?? Number.NEGATIVE_INFINITY, now - this.maxAgeMs);
    const twin = series.chunks ? series.id : undefined;
    return this.chunks.newest(twin, series.buffer, cutoff, Math.min(limit, HISTORY_MAX_LIMIT));
  }

  /**
   * Deletes the chunks of up to SWEEP_TWINS twins (round robin) whose newest point is older than maxAgeMs: a
   * twin still reporting drops its aged chunks as it writes new ones, this catches those that went quiet.
   */
  sweep(now = Date.now()): void {
    if (!this.sql) return;
    const cutoff = now - this.maxAgeMs;
    const chunks = this.chunks!;
    try {
      this.db
        .transaction(() => {
          for (let n = 0; n < SWEEP_TWINS; n++) {
            this.sweepCursor ??= this.byId.values();
            const next = this.sweepCursor.next();
            if (next.done) {
              this.sweepCursor = undefined;
              break;
            }
            const series = next.value;
            if (!series.chunks || (series.lastT ?? Number.NEGATIVE_INFINITY) >= cutoff) continue;
            chunks.dropAll(series.id!);
            series.chunks = false;
          }
        })
        .immediate();
    } catch (error) {
      this.failed(error, 0);
    }
  }

  /** Moves every twin's logged points into chunks, and empties the log (at close: the next open reads less). */
  compactAll(now = Date.now()): void {
    if (!this.sql || this.buffered.size === 0) return;
    const { dropLog } = this.sql;
    try {
      this.db
        .transaction(() => {
          for (const series of this.buffered.keys()) {
            if (series.id !== undefined) this.writeChunk(series, series.id, series.buffer, now);
          }
          dropLog.run(Number.MAX_SAFE_INTEGER);
        })
        .immediate();
    } catch (error) {
      this.failed(error, 0);
    }
  }

  /** The in-memory series of a twin, made on its first point. */
  private series(deviceId: string, name: string): Series {
    let twins = this.devices.get(deviceId);
    if (!twins) {
      twins = new Map();
      this.devices.set(deviceId, twins);
    }
    let series = twins.get(name);
    if (!series) {
      series = newSeries(deviceId, name);
      twins.set(name, series);
    }
    return series;
  }

  private drop(series: Series): void {
    series.gone = true;
    const twins = this.devices.get(series.deviceId);
    if (twins?.get(series.name) === series) {
      twins.delete(series.name);
      if (twins.size === 0) this.devices.delete(series.deviceId);
    }
    if (series.id !== undefined && this.byId.get(series.id) === series) this.byId.delete(series.id);
    this.buffered.delete(series);
    this.full.delete(series);
  }

  /** The savepoint of `write`: plans and writes this transaction's part, returns what to apply on commit. */
  private writeInTransaction(removed: ReadonlySet<Series>, now: number): Plan {
    const sql = this.sql!;
    const plan: Plan = { seq: this.seq + 1, now, ids: [], chunked: [], logged: [], floor: this.floor };
    const ids = new Map<Series, number>();
    const idOf = (series: Series): number | undefined => {
      if (series.id !== undefined) return series.id;
      let id = ids.get(series);
      if (id !== undefined) return id;
      id = sql.twinId.get(series.deviceId, series.name) as number | undefined;
      if (id === undefined) return undefined;
      ids.set(series, id);
      plan.ids.push([series, id]);
      return id;
    };
    // This transaction's points, one segment per twin.
    const segments = new Map<Series, Segments>();
    for (const [series, points] of this.staged) {
      if (series.gone || removed.has(series)) continue;
      const segment = noSegments();
      addSegment(segment, encodeSegment(points), points.ts.length, latest(points.ts));
      segments.set(series, segment);
    }
    // What gets a chunk now: twins with enough points, then those waiting longest, up to CHUNKS_PER_COMMIT.
    const chunk = new Set<Series>();
    for (const [series, segment] of segments)
      if (chunk.size < CHUNKS_PER_COMMIT && this.isFull(series.buffer, segment)) chunk.add(series);
    for (const series of this.full) if (chunk.size < CHUNKS_PER_COMMIT) chunk.add(series);
    for (const series of this.buffered.keys()) {
      if (chunk.size >= CHUNKS_PER_COMMIT || series.since > now - CHUNK_AGE_MS) break;
      chunk.add(series);
    }
    for (const series of chunk) {
      const id = removed.has(series) || series.gone ? undefined : idOf(series);
      if (id === undefined) continue;
      const segment = segments.get(series);
      let points = series.buffer;
      if (segment) {
        points = { ...points, texts: [...points.texts] };
        addSegment(points, segment.texts[0]!, segment.count, segment.t1);
      }
      plan.chunked.push([series, this.writeChunk(series, id, points, now)]);
    }
    const chunked = new Set(plan.chunked.map(([series]) => series));
    const entries: LogEntry[] = [];
    for (const [series, { texts, count, t1 }] of segments) {
      if (chunked.has(series)) continue;
      const id = idOf(series);
      if (id === undefined) continue; // its row was never written (a refused write's point)
      this.loadBase(series, id);
      entries.push({ twin: id, first: series.base! + series.buffer.count, segment: texts[0]! });
      plan.logged.push([series, texts[0]!, count, t1]);
    }
    if (entries.length > 0) sql.putLog.run(plan.seq, encodeLog(entries));
    // The log rows still needed: from the oldest a twin has points of that are not in a chunk.
    let floor = plan.logged.length > 0 ? plan.seq : plan.seq + 1;
    for (const [series, seq] of this.buffered) {
      if (chunked.has(series) || removed.has(series)) continue;
      floor = Math.min(floor, seq);
      break;
    }
    if (floor > this.floor) sql.dropLog.run(floor);
    plan.floor = Math.max(floor, this.floor);
    return plan;
  }

  /** Writes `points`, the series' from `base` on, as chunks; returns the counter of the newest point. */
  private writeChunk(series: Series, id: number, points: Segments, now: number): number {
    this.loadBase(series, id);
    return this.chunks!.write(id, series.base!, points, now);
  }

  /** Whether `buffer` (with `more`) is worth a chunk of its own. */
  private isFull(buffer: Segments, more?: Segments): boolean {
    const count = buffer.count + (more?.count ?? 0);
    return count >= this.chunkPoints || buffer.chars + (more?.chars ?? 0) >= CHUNK_FILL;
  }

  /** The series' `base`: one past the newest chunk's newest point, the first time it is needed. */
  private loadBase(series: Series, id: number): void {
    series.base ??= this.chunks!.next(id);
  }

  /** At open: the twins, what each reported last, and the points of the log not yet in chunks. */
  private load(): void {
    const sql = this.sql!;
    type Row = {
      id: number;
      deviceid: string;
      name: string;
      actual: string | null;
      actual_meta: string | null;
    };
    for (const row of sql.series.iterate() as Iterable<Row>) {
      const series = this.series(row.deviceid, row.name);
      series.id = row.id;
      series.chunks = true;
      if (row.actual !== null) {
        series.lastV = row.actual;
        series.lastT = timestampOf(row.actual_meta);
      }
      this.byId.set(row.id, series);
    }
    for (const row of sql.log.iterate() as Iterable<{ seq: number; points: string }>) {
      this.seq = Math.max(this.seq, row.seq);
      let entries: ReturnType<typeof decodeLog>;
      try {
        entries = decodeLog(row.points);
      } catch (error) {
        // Never in the way of opening the twins: the row's points are lost.
        this.failed(error, 0);
        continue;
      }
      for (const { twin, first, points } of entries) {
        const series = this.byId.get(twin);
        if (!series) continue; // removed since
        this.loadBase(series, twin);
        const { buffer } = series;
        // Points already in a chunk (moved there after this row was written) are skipped.
        const from = Math.max(0, series.base! + buffer.count - first);
        if (from >= points.ts.length) continue;
        if (buffer.count === 0) {
          series.since = Date.now();
          this.buffered.set(series, row.seq);
        }
        const count = points.ts.length - from;
        addSegment(buffer, encodeSegment(points, from), count, latest(points.ts, from));
        if (this.isFull(buffer)) this.full.add(series);
      }
    }
  }

  private failed(error: unknown, twins: number): void {
    this.failure.count++;
    const now = Date.now();
    if (now - this.failure.loggedAt < FAILURE_LOG_MS) return;
    this.log.warn(
      { err: (error as Error)?.message ?? String(error), failures: this.failure.count, twins },
      'twin history not written (the twins were): points lost',
    );
    this.failure = { count: 0, loggedAt: now };
  }
}

function newSeries(deviceId: string, name: string): Series {
  return {
    deviceId,
    name,
    id: undefined,
    lastV: undefined,
    lastT: undefined,
    base: undefined,
    buffer: noSegments(),
    since: 0,
    chunks: false,
    gone: false,
  };
}

/** `actual_meta`'s timestamp, if it has one. */
function timestampOf(meta: string | null): number | undefined {
  if (meta === null) return undefined;
  try {
    const stamp = (JSON.parse(meta) as { timestamp?: unknown } | null)?.timestamp;
    return typeof stamp === 'number' ? stamp : undefined;
  } catch {
    return undefined;
  }
}
