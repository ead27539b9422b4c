import type { PropertyInfo, TwinView } from './api.js';

/** A device's state, coloured: online/ok green, unhealthy amber, offline red, anything else grey. */
export function StateBadge({ state }: { state: string }) {
  const s = state.toLowerCase();
  const tone =
    s === 'online' || s === 'ok' ? 'good' : s === 'unhealthy' ? 'warn' : s === 'offline' ? 'bad' : 'muted';
  return <span class={`badge state ${tone}`}>{s || 'unknown'}</span>;
}

/**
 * Whether the device holds the desired value: `in sync` (no delta), `pending` (a delta, with the value it
 * waits for), `read-only`, or `no desired` when nothing was asked.
 */
export function SyncBadge({
  twin,
  info,
  expected,
}: {
  twin: TwinView | undefined;
  info: PropertyInfo | undefined;
  /** The property's entry in the device's delta, if any. */
  expected: string | undefined;
}) {
  if (expected !== undefined)
    return (
      <span class="badge sync warn" title={`the device does not hold ${expected} yet`}>
        pending
      </span>
    );
  if (info?.accessMode === 'ReadOnly') return <span class="badge sync muted">read-only</span>;
  if (!twin?.desired) return <span class="badge sync muted">no desired</span>;
  return <span class="badge sync good">in sync</span>;
}
