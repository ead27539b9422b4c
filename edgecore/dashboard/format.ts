import type { DeviceSummary, HistoryPoint, TwinView } from './api.js';

/** An ISO time (`lastOnlineTime`) in ms since the epoch, or undefined when there is none. */
export function parseTime(iso: string | undefined): number | undefined {
  const at = iso ? Date.parse(iso) : Number.NaN;
  return Number.isNaN(at) ? undefined : at;
}

/** A time as a person reads it: `just now`, `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`, or `never`. */
export function relativeTime(at: number | undefined, now: number): string {
  if (at === undefined) return 'never';
  const seconds = Math.round((now - at) / 1000);
  if (seconds < 2) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

/**
 * When the device was last seen: the later of its `lastOnlineTime` (set by its state reports) and its newest
 * reported value (`reportedAt`, ms), since a device that reports values is alive between state changes.
 */
export function lastSeen(
  lastOnlineTime: string | undefined,
  reportedAt: number | undefined,
): number | undefined {
  const online = parseTime(lastOnlineTime);
  if (online === undefined) return reportedAt;
  return reportedAt === undefined ? online : Math.max(online, reportedAt);
}

/** The newest reported timestamp among `twins` (ms), if any. */
export function newestReport(twins: Record<string, TwinView | null>): number | undefined {
  let newest: number | undefined;
  for (const twin of Object.values(twins)) {
    const t = twin?.reported?.timestamp;
    if (typeof t === 'number' && (newest === undefined || t > newest)) newest = t;
  }
  return newest;
}

/**
 * Whether the device matches the filter box: every word of `query` (case-insensitive) is found in its name,
 * namespace, model, protocol, state or node.
 */
export function matchesFilter(device: DeviceSummary, query: string): boolean {
  const text = [device.id, device.model, device.protocol, device.state, device.node ?? '']
    .join(' ')
    .toLowerCase();
  return query
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => text.includes(word));
}

/** A reported value as a number for charts: numbers as they are, booleans as 1/0, anything else undefined. */
export function numeric(value: string | number | boolean | undefined | null): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value == null) return undefined;
  const text = value.trim().toLowerCase();
  if (text === 'true') return 1;
  if (text === 'false') return 0;
  if (text === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

/** A chart's points: time (ms) and value. */
export interface Point {
  t: number;
  v: number;
}

/** How many points a property keeps in the browser (about ten minutes at one report a second). */
export const MAX_POINTS = 600;

/**
 * `points` with `more` merged in, ordered by time, one point per timestamp (the later one wins), the oldest
 * dropped past {@link MAX_POINTS}. Non-numeric values are left out.
 */
export function mergePoints(points: readonly Point[], more: readonly HistoryPoint[]): Point[] {
  const byTime = new Map<number, number>();
  for (const p of points) byTime.set(p.t, p.v);
  for (const p of more) {
    const v = numeric(p.v);
    if (v !== undefined && Number.isFinite(p.t)) byTime.set(p.t, v);
  }
  const merged = [...byTime].map(([t, v]) => ({ t, v })).sort((a, b) => a.t - b.t);
  return merged.length > MAX_POINTS ? merged.slice(-MAX_POINTS) : merged;
}

/**
 * A value as the table shows it: as reported, except that a number with more than three decimals is rounded to
 * three (the exact value is in the cell's tooltip); `—` when there is none.
 */
export function displayValue(value: string | undefined | null): string {
  if (value == null || value === '') return '—';
  if (!/^-?\d+\.\d{4,}$/.test(value.trim())) return value;
  const text = Number(value).toLocaleString('en', { maximumFractionDigits: 3, useGrouping: false });
  return text === '-0' ? '0' : text;
}
