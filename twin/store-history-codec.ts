/**
 * How history points are encoded. A **segment** is one run of a twin's points as the JSON
 * `[[t0, t1 - t0, t2 - t1, …], [v0, v1, …]]`: times in ms since the epoch, each after the first as the step
 * from the one before (negative when the clock went back), then the values; a point reported every second
 * costs ~12 bytes. A chunk of `twin_history` is one segment; a row of `twin_history_log` holds all the twins
 * of one commit: `[twin, first, segment, twin, first, segment, …]`.
 */

/** Points of one twin in the order they were recorded: `ts[i]` is when `vs[i]` was reported. */
export interface Points {
  ts: number[];
  vs: string[];
}

/** A twin's points as segments joined by commas, oldest first, with their count and their latest time. */
export interface Segments {
  /** Each a segment or several joined by `,`; joined into one now and then (a string each costs ~100 bytes). */
  texts: string[];
  count: number;
  chars: number;
  /** The latest time of any of them (-Infinity: none). */
  t1: number;
}

/** Texts a Segments holds before they are joined into one. */
const TEXTS = 8;

export function noSegments(): Segments {
  return { texts: [], count: 0, chars: 0, t1: Number.NEGATIVE_INFINITY };
}

/** `points` (from `from` up to, not including, `to`) as one segment. */
export function encodeSegment({ ts, vs }: Points, from = 0, to = ts.length): string {
  const steps = new Array<number>(to - from);
  let previous = 0;
  for (let i = from; i < to; i++) {
    const t = ts[i]!;
    steps[i - from] = i === from ? t : t - previous;
    previous = t;
  }
  return JSON.stringify([steps, from === 0 && to === vs.length ? vs : vs.slice(from, to)]);
}

/** Adds a segment of `count` points whose latest time is `t1`. */
export function addSegment(into: Segments, text: string, count: number, t1: number): void {
  into.texts.push(text);
  if (into.texts.length >= TEXTS) into.texts = [into.texts.join(',')];
  into.count += count;
  into.chars += text.length + 1;
  if (t1 > into.t1) into.t1 = t1;
}

/** The points of segments (as Segments.texts holds them). Throws on text it did not write. */
export function decodeSegments(texts: readonly string[]): Points {
  const points: Points = { ts: [], vs: [] };
  for (const segment of JSON.parse(`[${texts.join(',')}]`) as unknown[]) appendSegment(points, segment);
  return points;
}

/** The points of a chunk (one segment). */
export function decodeChunk(text: string): Points {
  const points: Points = { ts: [], vs: [] };
  appendSegment(points, JSON.parse(text));
  return points;
}

/**
 * `points` from `from` on, as segments of at most `maxLength` characters each (a point longer than that
 * alone in its segment), oldest first: `[from, to, text]` each.
 */
export function encodeRuns(points: Points, from: number, maxLength: number): [number, number, string][] {
  const count = points.ts.length;
  const whole = encodeSegment(points, from);
  if (whole.length <= maxLength) return [[from, count, whole]];
  const runs: [number, number, string][] = [];
  const per = Math.max(1, Math.floor(((count - from) * maxLength) / whole.length));
  for (let start = from; start < count; ) {
    let end = Math.min(count, start + per);
    let text = encodeSegment(points, start, end);
    while (text.length > maxLength && end - start > 1) {
      end = start + ((end - start) >> 1);
      text = encodeSegment(points, start, end);
    }
    runs.push([start, end, text]);
    start = end;
  }
  return runs;
}

/** What one commit adds to a twin's history: the twin's `device_twin.id`, the counter of its first point. */
export interface LogEntry {
  twin: number;
  first: number;
  segment: string;
}

/** A commit's row of `twin_history_log`, for all its twins (one row per commit, not one per twin). */
export function encodeLog(entries: readonly LogEntry[]): string {
  const parts = new Array<string>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const { twin, first, segment } = entries[i]!;
    parts[i] = `${twin},${first},${segment}`;
  }
  return `[${parts.join(',')}]`;
}

/** What encodeLog wrote, each twin's points decoded. Throws on text it did not write. */
export function decodeLog(text: string): { twin: number; first: number; points: Points }[] {
  const flat = JSON.parse(text) as unknown[];
  if (!Array.isArray(flat) || flat.length % 3 !== 0)
    throw new TypeError('twin history log row: not [twin, first, segment, …]');
  const entries: { twin: number; first: number; points: Points }[] = [];
  for (let i = 0; i < flat.length; i += 3) {
    const points: Points = { ts: [], vs: [] };
    appendSegment(points, flat[i + 2]);
    entries.push({ twin: flat[i] as number, first: flat[i + 1] as number, points });
  }
  return entries;
}

function appendSegment(into: Points, segment: unknown): void {
  const [steps, values] = (Array.isArray(segment) ? segment : []) as [unknown, unknown];
  if (!Array.isArray(steps) || !Array.isArray(values) || steps.length !== values.length)
    throw new TypeError('twin history: not a segment [[steps…], [values…]] of the same length');
  let t = 0;
  for (let k = 0; k < steps.length; k++) {
    t += steps[k] as number;
    into.ts.push(t);
    into.vs.push(values[k] as string);
  }
}

/** The latest time in `ts` from `from` up to `to` (the clock may have gone back in between). */
export function latest(ts: readonly number[], from = 0, to = ts.length): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = from; i < to; i++) if (ts[i]! > max) max = ts[i]!;
  return max;
}
