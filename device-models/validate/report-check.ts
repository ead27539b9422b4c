import type { ModelProperty } from '../schema/device-model.js';
import {
  type ReportStrategy,
  ReportStrategy as ReportStrategySchema,
  toReportStrategy,
} from '../schema/report.js';
import { NUMERIC_TYPES } from '../values.js';
import { type Violation, validateAgainst } from './ajv-problems.js';
import type { PathSegment } from './problems.js';

/**
 * Checks a `report` block of a visitor (normalising it in place: "0.5" becomes 0.5) against the model
 * property it serves; `base` is the path of the block. Returns the strategy when there is nothing wrong.
 */
export function checkReport(
  report: unknown,
  property: ModelProperty,
  base: readonly PathSegment[],
): { violations: Violation[]; strategy?: ReportStrategy } {
  const violations = validateAgainst(ReportStrategySchema, report, base);
  if (violations.length > 0) return { violations };
  const config = report as ReportStrategy;
  const at = (field: string): PathSegment[] => [...base, field];
  const deadbands = (['deadband', 'deadbandPercent'] as const).filter((f) => config[f] !== undefined);
  for (const field of deadbands)
    if (!NUMERIC_TYPES.includes(property.type))
      violations.push({
        path: at(field),
        message: `applies only to INT, FLOAT and DOUBLE properties (this one is ${property.type})`,
      });
  if (config.onChange === false && deadbands.length > 0)
    violations.push({
      path: at('onChange'),
      message: `false contradicts ${deadbands[0]}: a deadband reports only changes (remove onChange or the deadband)`,
    });
  if (config.heartbeat !== undefined && !config.onChange && deadbands.length === 0)
    violations.push({
      path: at('heartbeat'),
      message:
        'needs onChange, deadband or deadbandPercent: without them the value is reported every reportCycle anyway',
    });
  return violations.length > 0 ? { violations } : { violations, strategy: toReportStrategy(config) };
}
