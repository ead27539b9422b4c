import { useEffect, useState } from 'preact/hooks';
import { type DeviceSummary, listDevices, summaryOf } from './api.js';
import { DeviceDetail } from './device-detail.js';
import { DeviceList } from './device-list.js';
import type { LiveEvents } from './events.js';
import { newestReport } from './format.js';

/** The device the URL names (`#/default/thermostat-01`), if any. */
function hashDevice(): string | undefined {
  const path = location.hash.replace(/^#\/?/, '');
  return path ? path.split('/').map(decodeURIComponent).join('/') : undefined;
}

function useHashDevice(): string | undefined {
  const [id, setId] = useState(hashDevice);
  useEffect(() => {
    const onHash = () => setId(hashDevice());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  return id;
}

/** The whole page: the device list beside the chosen device, both kept live by one event stream. */
export function App({ events }: { events: LiveEvents }) {
  const [devices, setDevices] = useState<DeviceSummary[]>();
  /** The newest reported value's time per device, from the events: "last seen" between state changes. */
  const [reported, setReported] = useState<Record<string, number>>({});
  const [error, setError] = useState<string>();
  const [live, setLive] = useState(events.live);
  const selected = useHashDevice();

  useEffect(() => {
    const show = (list: DeviceSummary[]) => {
      setDevices([...list].sort((a, b) => a.id.localeCompare(b.id)));
      setError(undefined);
    };
    const load = () => listDevices().then(show, (e: Error) => setError(`cannot list devices: ${e.message}`));
    void load();
    const offs = [
      events.on('hello', (views) => show(views.map(summaryOf))),
      events.on('state', (e) =>
        setDevices((list) =>
          list?.map((d) => (d.id === e.id ? { ...d, state: e.state, lastOnlineTime: e.lastOnlineTime } : d)),
        ),
      ),
      events.on('twin', (e) => {
        const t = newestReport(e.twins);
        if (t !== undefined) setReported((r) => (t > (r[e.id] ?? 0) ? { ...r, [e.id]: t } : r));
      }),
      events.on('reopen', () => void load()),
      events.on('live', setLive),
    ];
    events.start();
    return () => {
      for (const off of offs) off();
      events.stop();
    };
  }, [events]);

  return (
    <>
      <header class="top">
        <h1>
          <a href="#/">edgetwin</a>
        </h1>
        <span class="muted">devices and twins</span>
        <span class={`live ${live ? 'on' : 'off'}`} title="Server-Sent Events from /api/v1/events">
          {live ? 'live' : 'reconnecting…'}
        </span>
      </header>
      {error && (
        <p class="reason banner" role="alert">
          {error}
        </p>
      )}
      <main class="layout">
        {devices ? (
          <DeviceList devices={devices} reported={reported} selected={selected} />
        ) : (
          <section class="devices">Loading…</section>
        )}
        {selected ? (
          <DeviceDetail key={selected} id={selected} events={events} />
        ) : (
          <section class="detail empty">Choose a device to see its properties.</section>
        )}
      </main>
    </>
  );
}
