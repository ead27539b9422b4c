import { type Static, Type } from '@sinclair/typebox';
import { Boolish, Closed, Numeric } from './common.js';

/**
 * The key of a property's `visitors.configData` that holds its report strategy: an edgetwin extension that
 * KubeEdge ignores (its configData is free-form and its mappers skip unknown keys), so the same YAML still
 * applies to KubeEdge. It is taken out of the visitor before the protocol's schema sees it.
 */
export const REPORT_KEY = 'report';

/**
 * When a polled value is reported. Without it a property is reported every reportCycle, as in KubeEdge.
 * ```yaml
 * report: {onChange: true, deadband: 0.5, deadbandPercent: 2, heartbeat: 60000}
 * ```
 */
export const ReportStrategy = Closed(
  {
    onChange: Type.Optional(Boolish('Report only when the value changed since the last report.')),
    deadband: Type.Optional(
      Numeric({
        minimum: 0,
        description:
          'Report only a change larger than this (absolute, in the unit of the property); implies onChange.',
      }),
    ),
    deadbandPercent: Type.Optional(
      Numeric({
        minimum: 0,
        description: 'Report only a change larger than this % of the last reported value; implies onChange.',
      }),
    ),
    heartbeat: Type.Optional(
      Numeric({
        integer: true,
        minimum: 1,
        description: 'ms: report at least this often, changed or not (needs onChange or a deadband).',
      }),
    ),
  },
  'edgetwin extension: when to report a polled value (KubeEdge ignores it).',
);

/** A report strategy as written (after validation: numbers are numbers, booleans are booleans). */
export type ReportStrategyConfig = Static<typeof ReportStrategy>;

/** A report strategy resolved: `onChange` is set whenever a deadband is. */
export type ReportStrategy = Omit<ReportStrategyConfig, 'onChange'> & { onChange: boolean };

/** The resolved strategy of a validated `report` block. */
export function toReportStrategy(config: ReportStrategyConfig): ReportStrategy {
  const { onChange, ...rest } = config;
  const deadband = rest.deadband !== undefined || rest.deadbandPercent !== undefined;
  return { onChange: (onChange ?? false) || deadband, ...rest };
}
