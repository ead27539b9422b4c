import { DeviceModelError } from '../errors.js';
import { protocolLookup } from '../protocols/index.js';
import type { ResolvedDevice } from '../resolved.js';
import type { DeviceModel } from '../schema/device-model.js';
import { type Checked, type CheckOptions, checkObject, KINDS } from './check-object.js';
import { crossCheck } from './cross-check.js';
import { compareProblems, formatProblem, type Problem } from './problems.js';
import { readSources, type SourceObject } from './source.js';

export type { CheckOptions } from './check-object.js';
export { compareProblems, formatPath, formatProblem, type Problem, type Severity } from './problems.js';
export { DEFAULT_MAX_BYTES, parseSource, readSources, type SourceObject } from './source.js';

/** What validation found: the resolved devices, the models, and the problems (errors and warnings). */
export interface ValidationResult {
  /** Errors: what makes the input unusable. Devices with one are not in `devices`. */
  problems: Problem[];
  /** Valid input that is probably not what was meant (severity `warning`); they refuse nothing. */
  warnings: Problem[];
  files: number;
  counts: Record<(typeof KINDS)[number], number>;
  models: DeviceModel[];
  /** Devices that passed every check, joined with their model and normalised. */
  devices: ResolvedDevice[];
}

/** How files are validated: the checks' options, and the largest file read. */
export interface ValidateOptions extends CheckOptions {
  maxBytes?: number;
}

/** Validates files and directories of YAML/JSON: every problem, with file:line:col and field path. */
export async function validateFiles(
  paths: readonly string[],
  options: ValidateOptions = {},
): Promise<ValidationResult> {
  const sources = await readSources(paths, options);
  const result = validateObjects(sources.objects, options);
  result.problems.unshift(...sources.problems);
  result.problems.sort(compareProblems);
  result.warnings.sort(compareProblems);
  return { ...result, files: sources.files };
}

/** Validates objects already parsed (from files, or from the Kubernetes API through `fromValue`). */
export function validateObjects(
  objects: readonly SourceObject[],
  options: CheckOptions = {},
): ValidationResult {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const checked: Checked[] = [];
  for (const object of objects) {
    const result = checkObject(object, options);
    problems.push(...result.problems);
    warnings.push(...result.warnings);
    if (result.checked) checked.push(result.checked);
  }
  const cross = crossCheck(checked, protocolLookup(options.protocols));
  problems.push(...cross.problems);
  warnings.push(...cross.warnings);
  const counts = Object.fromEntries(
    KINDS.map((k) => [k, checked.filter((c) => c.kind === k).length]),
  ) as ValidationResult['counts'];
  const models = checked.flatMap((c) => (c.kind === 'DeviceModel' ? [c.object] : []));
  return {
    problems: distinct(problems),
    warnings: distinct(warnings),
    files: 0,
    counts,
    models,
    devices: cross.devices,
  };
}

/** Each problem once: one in a model's default (a visitor, protocolConfigData) is found once per device of it. */
function distinct(problems: readonly Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${formatProblem(p)}\0${p.severity}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** An object with no file behind it (e.g. from the Kubernetes API); problems name `origin` and the path. */
export function fromValue(value: unknown, origin: string): SourceObject {
  return { file: origin, value, locate: () => ({ line: 0, col: 0 }) };
}

/** Loads devices from files for a process to run: throws DeviceModelError listing every error (warnings do not). */
export async function loadDevices(
  paths: readonly string[],
  options: ValidateOptions = {},
): Promise<ValidationResult> {
  const result = await validateFiles(paths, options);
  if (result.problems.length > 0)
    throw new DeviceModelError(
      `${result.problems.length} problem(s) in ${paths.join(', ')}:\n${result.problems.map(formatProblem).join('\n')}`,
      result.problems,
    );
  return result;
}
