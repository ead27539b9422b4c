import type { ReportStrategy, TwinValue } from '../../device-models/index.js';

/** What a property last reported, and when (ms). */
export interface LastReport {
  value: TwinValue;
  at: number;
}

/**
 * Whether a property's latest value is reported at this report tick, by its strategy (an edgetwin extension
 * in `visitors.configData.report`). No strategy: every tick, as KubeEdge does. `onChange`: only when the value
 * differs from the last one reported; `deadband` / `deadbandPercent`: only when it moved by more than that
 * (absolute, or percent of the last reported value); `heartbeat`: at least every so many ms regardless.
 */
export function shouldReport(
  strategy: ReportStrategy | undefined,
  last: LastReport | undefined,
  value: TwinValue,
  now: number,
): boolean {
  if (!strategy || !last) return true;
  if (strategy.heartbeat !== undefined && now - last.at >= strategy.heartbeat) return true;
  if (!strategy.onChange) return true;
  if (typeof value !== 'number' || typeof last.value !== 'number') return value !== last.value;
  const { deadband, deadbandPercent } = strategy;
  if (deadband === undefined && deadbandPercent === undefined) return value !== last.value;
  const moved = Math.abs(value - last.value);
  return (
    (deadband !== undefined && moved > deadband) ||
    (deadbandPercent !== undefined && moved > (Math.abs(last.value) * deadbandPercent) / 100)
  );
}
