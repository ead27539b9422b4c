import type { PropertyInfo, TwinValue, TwinView } from './api.js';
import { SyncBadge } from './badges.js';
import { DesiredForm } from './desired-form.js';
import { displayValue, type Point } from './format.js';
import { Sparkline } from './sparkline.js';

interface Props {
  deviceId: string;
  name: string;
  twin: TwinView | undefined;
  info: PropertyInfo | undefined;
  /** The property's entry in the device's delta (the desired value it does not hold yet). */
  expected: string | undefined;
  points: readonly Point[];
  chosen: boolean;
  onChoose: () => void;
  onSet: (twin: TwinView) => void;
}

/**
 * Whether the dashboard offers a desired-value form: as the model says (accessMode) when the API sends it,
 * else when the twin already has a desired value (a read-only property never has one).
 */
export function writable(info: PropertyInfo | undefined, twin: TwinView | undefined): boolean {
  if (info?.accessMode) return info.accessMode === 'ReadWrite';
  return twin?.desired != null;
}

/** One property of a device: reported and desired values, sync badge, unit, sparkline and desired form. */
export function PropertyRow({
  deviceId,
  name,
  twin,
  info,
  expected,
  points,
  chosen,
  onChoose,
  onSet,
}: Props) {
  const reason = twin?.reported?.reason;
  return (
    <tr data-property={name} class={chosen ? 'chosen' : undefined}>
      <th scope="row">
        <button type="button" class="link" onClick={onChoose} aria-pressed={chosen} title="show its history">
          {name}
        </button>
        {info?.description && <small>{info.description}</small>}
      </th>
      <td class="reported num" title={tooltip(twin?.reported)}>
        {displayValue(twin?.reported?.value)}
      </td>
      <td class="desired num" title={tooltip(twin?.desired)}>
        {displayValue(twin?.desired?.value)}
      </td>
      <td class="sync">
        <SyncBadge twin={twin} info={info} expected={expected} />
        {reason && <small class="device-reason">{reason}</small>}
      </td>
      <td class="unit">{info?.unit ?? ''}</td>
      <td class="trend">
        <button type="button" class="spark-button" onClick={onChoose} aria-label={`${name} history`}>
          <Sparkline points={points} label={name} />
        </button>
      </td>
      <td class="set">
        {writable(info, twin) && (
          <DesiredForm deviceId={deviceId} property={name} info={info} twin={twin} onSet={onSet} />
        )}
      </td>
    </tr>
  );
}

/** The exact value, when and at which version: `82.54401125978794 at 29/11/2026 11:15:02, version 0.12`. */
function tooltip(side: TwinValue | null | undefined): string | undefined {
  if (!side) return undefined;
  const when = side.timestamp ? ` at ${new Date(side.timestamp).toLocaleString()}` : '';
  return `${side.value}${when}${side.version ? `, version ${side.version}` : ''}`;
}
