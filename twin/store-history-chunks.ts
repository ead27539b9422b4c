import {
  decodeChunk,
  decodeSegments,
  encodeRuns,
  latest,
  type Points,
  type Segments,
} from './store-history-codec.js';
import type { HistoryStatements } from './store-statements.js';
import type { HistoryPoint } from './types.js';

/** The longest a chunk's text may be: two chunks to a 4 KiB page (a longer text is cut into several). */
const CHUNK_LENGTH = 1900;
/** Old chunks of a twin (past maxPoints or maxAgeMs) a new chunk of it may drop. */
const DROPS_PER_CHUNK = 8;

/** How much history is kept per twin. */
export interface Retention {
  maxPoints: number;
  maxAgeMs: number;
}

/**
 * The chunks of `twin_history`: runs of one twin's points, each written once, found by (twin, counter of
 * its newest point; a twin's points are counted from 0), dropped once out of the retention.
 */
export class HistoryChunks {
  constructor(
    private readonly sql: HistoryStatements,
    private readonly retention: Retention,
  ) {}

  /** The counter of the twin's next point: one past its newest chunked one. */
  next(twin: number): number {
    const last = this.sql.lastOf.get(twin) as number | null;
    return last === null ? 0 : last + 1;
  }

  /**
   * Writes `points`, counted from `base`, as chunks (the newest maxPoints of them; encoded again as one run,
   * since each segment starts with a full timestamp), and drops the twin's oldest chunks that fell out of
   * the retention. Returns the counter of the newest point.
   */
  write(twin: number, base: number, points: Segments, now: number): number {
    const { maxPoints, maxAgeMs } = this.retention;
    const { putChunk, oldest, dropUpTo } = this.sql;
    const decoded = decodeSegments(points.texts);
    const last = base + decoded.ts.length - 1;
    for (const [from, to, text] of encodeRuns(
      decoded,
      Math.max(0, decoded.ts.length - maxPoints),
      CHUNK_LENGTH,
    ))
      putChunk.run(twin, base + to - 1, latest(decoded.ts, from, to), text);
    const keepFrom = last + 1 - maxPoints;
    const cutoff = now - maxAgeMs;
    let dropTo: number | undefined;
    for (const old of oldest.all(twin, DROPS_PER_CHUNK) as { last: number; t1: number }[]) {
      if (old.last >= keepFrom && old.t1 >= cutoff) break;
      dropTo = old.last;
    }
    if (dropTo !== undefined) dropUpTo.run(twin, dropTo);
    return last;
  }

  dropAll(twin: number): void {
    this.sql.dropAll.run(twin);
  }

  /**
   * The newest `wanted` points at or after `cutoff` among the newest maxPoints of the twin: those not yet in
   * chunks (`recent`), then those of its chunks (none: `twin` undefined), oldest first. A run whose newest
   * point is before the cutoff ends the search (points are kept in the order recorded).
   */
  newest(twin: number | undefined, recent: Segments, cutoff: number, wanted: number): HistoryPoint[] {
    const out: HistoryPoint[] = [];
    let window = this.retention.maxPoints;
    const take = ({ ts, vs }: Points): boolean => {
      for (let i = ts.length - 1; i >= 0; i--) {
        if (window-- <= 0 || out.length >= wanted) return false;
        if (ts[i]! >= cutoff) out.push({ t: ts[i]!, v: vs[i]! });
      }
      return window > 0 && out.length < wanted;
    };
    const more = recent.count === 0 || (recent.t1 >= cutoff && take(decodeSegments(recent.texts)));
    if (more && twin !== undefined)
      for (const row of this.sql.chunks.iterate(twin) as Iterable<{ t1: number; points: string }>)
        if (row.t1 < cutoff || !take(decodeOrNone(row.points))) break;
    return out.reverse();
  }
}

/** A chunk's points; none for a row this code did not write (best-effort: a damaged chunk is skipped). */
function decodeOrNone(text: string): Points {
  try {
    return decodeChunk(text);
  } catch {
    return { ts: [], vs: [] };
  }
}
