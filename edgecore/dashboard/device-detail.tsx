import { useEffect, useState } from 'preact/hooks';
import { type DeviceView, getDevice, getHistory, type TwinView } from './api.js';
import { StateBadge } from './badges.js';
import type { LiveEvents } from './events.js';
import { lastSeen, mergePoints, newestReport, numeric, type Point } from './format.js';
import { HistoryChart } from './history-chart.js';
import { LastSeen } from './last-seen.js';
import { PropertyRow } from './property-row.js';
import { useNow } from './use-now.js';

type Series = Record<string, Point[]>;

/** `twins` with the changed ones replaced, and those that are null (deleted) removed. */
function mergeTwins(twins: Record<string, TwinView>, changed: Record<string, TwinView | null>) {
  const next = { ...twins };
  for (const [name, twin] of Object.entries(changed)) {
    if (twin) next[name] = twin;
    else delete next[name];
  }
  return next;
}

/** `series` with each twin's reported value appended (numeric values only). */
function withReported(series: Series, twins: Record<string, TwinView | null>): Series {
  let next = series;
  for (const [name, twin] of Object.entries(twins)) {
    const reported = twin?.reported;
    if (!reported || numeric(reported.value) === undefined) continue;
    const t = reported.timestamp ?? Date.now();
    const points = next[name] ?? [];
    if (points.at(-1)?.t === t) continue;
    next = { ...next, [name]: mergePoints(points, [{ t, v: reported.value }]) };
  }
  return next;
}

/** The property the chart shows first: the first whose reported value is a number, not a boolean. */
function firstNumeric(device: DeviceView): string | undefined {
  return Object.entries(device.twins).find(
    ([, t]) => t.reported && t.type !== 'boolean' && numeric(t.reported.value) !== undefined,
  )?.[0];
}

/**
 * One device: its state and a table of its properties (desired, reported, in sync, unit, sparkline, desired
 * form), and the history chart of the chosen property, kept live from the API's events.
 */
export function DeviceDetail({ id, events }: { id: string; events: LiveEvents }) {
  const [device, setDevice] = useState<DeviceView>();
  const [error, setError] = useState<string>();
  const [series, setSeries] = useState<Series>({});
  const [chosen, setChosen] = useState<string>();
  const [historyLoaded, setHistoryLoaded] = useState(false);
  const now = useNow();

  useEffect(() => {
    // The App keys this view by device, so a new device starts from empty state.
    let current = true;
    const load = () =>
      getDevice(id).then(
        (view) => {
          if (!current) return view;
          setDevice(view);
          setError(undefined);
          setSeries((s) => withReported(s, view.twins));
          return view;
        },
        (e: Error) => {
          if (current) setError(e.message);
          return undefined;
        },
      );
    load().then(async (view) => {
      if (!view) return;
      const histories = await Promise.all(
        Object.keys(view.twins).map(
          async (name) => [name, await getHistory(id, name).catch(() => [])] as const,
        ),
      );
      if (!current) return;
      setSeries((s) => {
        let next = s;
        for (const [name, points] of histories)
          if (points.length) next = { ...next, [name]: mergePoints(next[name] ?? [], points) };
        return next;
      });
      setHistoryLoaded(true);
    });
    const offs = [
      events.on('twin', (e) => {
        if (e.id !== id) return;
        setDevice((d) => d && { ...d, twins: mergeTwins(d.twins, e.twins), delta: e.delta });
        setSeries((s) => withReported(s, e.twins));
      }),
      events.on('state', (e) => {
        if (e.id === id) setDevice((d) => d && { ...d, state: e.state, lastOnlineTime: e.lastOnlineTime });
      }),
      events.on('hello', (views) => {
        const view = views.find((v) => v.id === id);
        if (!view) return;
        // `hello` may not carry what only GET does (the model's properties): keep those.
        setDevice((d) => ({ ...view, properties: view.properties ?? d?.properties }));
        setSeries((s) => withReported(s, view.twins));
      }),
      events.on('reopen', () => void load()),
    ];
    return () => {
      current = false;
      for (const off of offs) off();
    };
  }, [id, events]);

  if (error && !device) return <section class="detail empty">{error}</section>;
  if (!device) return <section class="detail empty">Loading {id}…</section>;

  const names = [...new Set([...Object.keys(device.properties ?? {}), ...Object.keys(device.twins)])];
  const shown = chosen ?? firstNumeric(device);
  const onSet = (name: string) => (twin: TwinView) => {
    setDevice((d) => d && { ...d, twins: { ...d.twins, [name]: { ...d.twins[name], ...twin } } });
    // The delta changes with the desired value: take it from the device view (the events carry it later too).
    getDevice(id).then(
      (view) => setDevice((d) => (d?.id === view.id ? view : d)),
      () => {},
    );
  };
  const chartPoints = shown ? (series[shown] ?? []) : [];
  const unit = shown ? device.properties?.[shown]?.unit : undefined;

  return (
    <section class="detail" aria-label={`device ${device.id}`}>
      <header class="detail-head">
        <h2>{device.name}</h2>
        <StateBadge state={device.state} />
        <span class="muted">
          {device.namespace} · {device.model} · {device.protocol}
          {device.node ? ` · node ${device.node}` : ''} · last seen{' '}
          <LastSeen at={lastSeen(device.lastOnlineTime, newestReport(device.twins))} now={now} />
        </span>
      </header>
      {error && <p class="reason">{error}</p>}
      <div class="table-wrap">
        <table class="properties">
          <thead>
            <tr>
              <th scope="col">Property</th>
              <th scope="col" class="num">
                Reported
              </th>
              <th scope="col" class="num">
                Desired
              </th>
              <th scope="col">Sync</th>
              <th scope="col">Unit</th>
              <th scope="col">Trend</th>
              <th scope="col">Set desired</th>
            </tr>
          </thead>
          <tbody>
            {names.map((name) => (
              <PropertyRow
                key={name}
                deviceId={device.id}
                name={name}
                twin={device.twins[name]}
                info={device.properties?.[name]}
                expected={device.delta[name]}
                points={series[name] ?? []}
                chosen={name === shown}
                onChoose={() => setChosen(name)}
                onSet={onSet(name)}
              />
            ))}
          </tbody>
        </table>
      </div>
      {shown && (
        <figure class="history">
          <figcaption>
            History of <strong>{shown}</strong>
            {unit ? ` (${unit})` : ''}
            <span class="muted"> · {chartPoints.length} points, live</span>
          </figcaption>
          {chartPoints.length >= 2 ? (
            <HistoryChart key={shown} points={chartPoints} label={shown} />
          ) : (
            <p class="muted no-history">
              {historyLoaded ? 'No history recorded yet: live values appear here as they come.' : 'Loading…'}
            </p>
          )}
        </figure>
      )}
    </section>
  );
}
