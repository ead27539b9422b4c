import { useState } from 'preact/hooks';
import { ApiError, type PropertyInfo, setDesired, type TwinView } from './api.js';

interface Props {
  deviceId: string;
  property: string;
  info: PropertyInfo | undefined;
  twin: TwinView | undefined;
  /** The twin as the API returned it after a value was taken. */
  onSet: (twin: TwinView) => void;
}

/** `5 – 35 °C`, `≥ 0`, `≤ 100`, or '' when the model gives no range. */
function range(info: PropertyInfo | undefined): string {
  const unit = info?.unit ? ` ${info.unit}` : '';
  if (info?.minimum && info.maximum) return `${info.minimum} – ${info.maximum}${unit}`;
  if (info?.minimum) return `≥ ${info.minimum}${unit}`;
  if (info?.maximum) return `≤ ${info.maximum}${unit}`;
  return '';
}

/**
 * Sets a property's desired value. A refused value (400 bad value, 409 version conflict) shows the API's
 * reason next to the form; a taken one clears it.
 */
export function DesiredForm({ deviceId, property, info, twin, onSet }: Props) {
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [reason, setReason] = useState<string>();
  const boolean = (info?.type ?? twin?.type ?? '').toLowerCase() === 'boolean';
  const current = twin?.desired?.value ?? twin?.reported?.value ?? '';

  const submit = async (event: Event) => {
    event.preventDefault();
    const text = boolean ? value || current || 'false' : value.trim();
    if (!text) return;
    setBusy(true);
    try {
      onSet(await setDesired(deviceId, property, text));
      setReason(undefined);
    } catch (error) {
      setReason(
        error instanceof ApiError
          ? `refused (${error.status}): ${error.message}`
          : `not sent: ${(error as Error).message}`,
      );
    } finally {
      setBusy(false);
    }
  };

  const hint = range(info);
  return (
    <form class="desired-form" onSubmit={submit}>
      {boolean ? (
        <select
          aria-label={`new desired ${property}`}
          value={value || current || 'false'}
          onChange={(e) => setValue(e.currentTarget.value)}
        >
          <option value="true">true</option>
          <option value="false">false</option>
        </select>
      ) : (
        <input
          name="value"
          aria-label={`new desired ${property}`}
          placeholder={hint || current || 'value'}
          title={hint ? `allowed: ${hint}` : undefined}
          inputMode={/int|float|double/i.test(info?.type ?? twin?.type ?? '') ? 'decimal' : undefined}
          size={8}
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
        />
      )}
      <button type="submit" disabled={busy}>
        Set
      </button>
      {reason && (
        <p class="reason" role="alert">
          {reason}
        </p>
      )}
    </form>
  );
}
