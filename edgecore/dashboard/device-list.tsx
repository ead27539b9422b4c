import { useState } from 'preact/hooks';
import type { DeviceSummary } from './api.js';
import { StateBadge } from './badges.js';
import { lastSeen, matchesFilter } from './format.js';
import { LastSeen } from './last-seen.js';
import { useNow } from './use-now.js';

/** `#/default/thermostat-01`: the link that opens a device. */
export const deviceHref = (id: string) => `#/${id.split('/').map(encodeURIComponent).join('/')}`;

/** How many devices are in each state: `5 online · 1 offline`. */
function stateCounts(devices: readonly DeviceSummary[]): string {
  const counts = new Map<string, number>();
  for (const d of devices) counts.set(d.state || 'unknown', (counts.get(d.state || 'unknown') ?? 0) + 1);
  return [...counts].map(([state, n]) => `${n} ${state}`).join(' · ');
}

/**
 * The devices, filtered by the words typed (name, model, protocol, state, node) and, when cloudcore serves
 * devices of several nodes, by node. Each row links to the device.
 */
export function DeviceList({
  devices,
  reported,
  selected,
}: {
  devices: readonly DeviceSummary[];
  /** The newest reported value's time per device (ms), which "last seen" takes when later than lastOnlineTime. */
  reported: Readonly<Record<string, number>>;
  selected?: string | undefined;
}) {
  const [query, setQuery] = useState('');
  const [node, setNode] = useState('');
  const now = useNow();
  const nodes = [...new Set(devices.flatMap((d) => (d.node ? [d.node] : [])))].sort();
  const shown = devices.filter((d) => (!node || d.node === node) && matchesFilter(d, query));

  return (
    <section class="devices" aria-label="devices">
      <div class="filters">
        <input
          type="search"
          aria-label="filter devices"
          placeholder={`Filter by name, model, protocol, state${nodes.length ? ', node' : ''}`}
          value={query}
          onInput={(e) => setQuery(e.currentTarget.value)}
        />
        {nodes.length > 0 && (
          <select aria-label="node" value={node} onChange={(e) => setNode(e.currentTarget.value)}>
            <option value="">all nodes</option>
            {nodes.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        )}
      </div>
      <p class="muted count">
        {shown.length === devices.length
          ? `${devices.length} devices`
          : `${shown.length} of ${devices.length}`}
        {' · '}
        {stateCounts(shown)}
      </p>
      <table class="device-table">
        <thead>
          <tr>
            <th scope="col">Device</th>
            {nodes.length > 0 && <th scope="col">Node</th>}
            <th scope="col">State</th>
            <th scope="col">Last seen</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((d) => (
            <tr key={d.id} data-device={d.id} class={d.id === selected ? 'selected' : undefined}>
              <th scope="row">
                <a href={deviceHref(d.id)} aria-current={d.id === selected ? 'page' : undefined}>
                  {d.name}
                </a>
                <small>
                  {d.namespace} · {d.model} · {d.protocol}
                </small>
              </th>
              {nodes.length > 0 && (
                <td class="node">
                  {d.node ?? ''}
                  {d.nodeConnected === false && <small>not connected</small>}
                </td>
              )}
              <td>
                <StateBadge state={d.state} />
              </td>
              <td class="last-seen">
                <LastSeen at={lastSeen(d.lastOnlineTime, reported[d.id])} now={now} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown.length === 0 && <p class="muted">No device matches.</p>}
    </section>
  );
}
