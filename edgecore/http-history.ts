import type { TwinStore } from '../twin/store.js';
import { HttpError } from './http-guard.js';

/** One reported value of a twin: when (ms since the epoch) and what. */
export interface HistoryPoint {
  t: number;
  v: string;
}

/** How the twin store answers a history query: the newest `limit` points since `since`, oldest first. */
export type HistoryQuery = (
  id: string,
  property: string,
  query: { since?: number; limit?: number },
) => HistoryPoint[];

/**
 * The store's `history`, bound to it, or undefined when this build's TwinStore keeps none (the route then
 * answers 501). Looked up rather than called directly so that the API builds with either store.
 */
export function historyOf(store: TwinStore): HistoryQuery | undefined {
  const candidate = (store as unknown as { history?: unknown }).history;
  return typeof candidate === 'function' ? (candidate as HistoryQuery).bind(store) : undefined;
}

/**
 * `since` of a history query in ms since the epoch: digits are ms since the epoch, anything else must be an
 * ISO 8601 time (`2026-01-31`, `2026-01-31T08:00:00Z`…); undefined when absent. 400 naming it otherwise.
 */
export function parseSince(since: string | undefined): number | undefined {
  if (since === undefined || since === '') return undefined;
  const ms = /^\d+$/.test(since)
    ? Number(since)
    : /^\d{4}-\d{2}-\d{2}/.test(since)
      ? Date.parse(since)
      : Number.NaN;
  if (!Number.isSafeInteger(ms))
    throw new HttpError(
      400,
      `querystring/since must be an ISO 8601 time or ms since the epoch (got "${since}")`,
      {
        field: 'querystring/since',
      },
    );
  return ms;
}
