import { readFile } from 'node:fs/promises';
import { formatPath } from '../device-models/validate/problems.js';
import { parseSource } from '../device-models/validate/source.js';
import { configDefaults, configViolations, type EdgeConfig, mergeConfig } from './config.js';
import { type ConfigOverride, envOverrides, flagOverrides, setIn } from './config-env.js';

/** Something wrong with the config: in edge.yaml (with its line and column), or in a variable or flag. */
export interface ConfigProblem {
  /** edge.yaml's path, or what set the field: `EDGETWIN_HTTP__PORT`, `--set http.port`. */
  source: string;
  line?: number;
  col?: number;
  /** The field, dotted (`eventBus.internal.port`); empty for the file as a whole. */
  path: string;
  message: string;
}

export interface ReadConfig {
  /** The config, when there is no problem. */
  config?: EdgeConfig;
  /** Every problem found, in the file's order, then those of the environment and the flags. */
  problems: ConfigProblem[];
  /** The fields set by the environment and by `--set`, in the order applied. */
  overrides: ConfigOverride[];
  /** Everything merged, valid or not (undefined when edge.yaml cannot be read): what the rest can be checked by. */
  merged?: Record<string, unknown>;
  /** Line and column in edge.yaml of the field at `path` (or of its nearest ancestor there). */
  locate?: (path: readonly (string | number)[]) => { line: number; col: number };
}

/** `file:line:col  path  message`, as `edgetwin validate` prints a device problem; a variable or flag by name. */
export function formatConfigProblem(problem: ConfigProblem): string {
  const where =
    problem.line === undefined ? problem.source : `${problem.source}:${problem.line}:${problem.col ?? 1}`;
  return `${where}  ${problem.path || '-'}  ${problem.message}`;
}

/**
 * The edge config from the defaults, edge.yaml (optional), the environment (`EDGETWIN_…`) and `--set` flags,
 * each on top of the one before. Nothing stops at the first problem: every one is returned, placed where it
 * can be fixed.
 */
export async function readEdgeConfig(
  options: { file?: string; env?: NodeJS.ProcessEnv; set?: readonly string[] } = {},
): Promise<ReadConfig> {
  const problems: ConfigProblem[] = [];
  const fromFile = options.file ? await readFileValue(options.file, problems) : { value: {} };
  const env = envOverrides(options.env ?? {});
  const flags = flagOverrides(options.set ?? []);
  for (const problem of [...env.problems, ...flags.problems]) problems.push({ path: '', ...problem });
  const overrides = [...env.overrides, ...flags.overrides];
  if (!fromFile.value) return { problems, overrides };

  const merged = mergeConfig(configDefaults(), fromFile.value) as Record<string, unknown>;
  for (const { path, value } of overrides) setIn(merged, path, value);
  for (const violation of configViolations(merged)) {
    const path = violation.path.map(String);
    const setBy = overrides.findLast((o) => o.path.every((key, i) => path[i] === key));
    const dotted = formatPath(violation.path);
    if (setBy) problems.push({ source: setBy.source, path: dotted, message: violation.message });
    else if (fromFile.locate && options.file)
      problems.push({
        source: options.file,
        ...fromFile.locate(violation.path),
        path: dotted,
        message: violation.message,
      });
    else problems.push({ source: 'defaults', path: dotted, message: violation.message });
  }
  // The file's in its order, then the environment's and the flags' (a stable sort keeps theirs).
  problems.sort((a, b) => rank(a) - rank(b) || (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
  const read = { problems, overrides, merged, ...(fromFile.locate ? { locate: fromFile.locate } : {}) };
  return problems.length > 0 ? read : { ...read, config: merged as EdgeConfig };
}

type Located = {
  value?: unknown;
  locate?: (path: readonly (string | number)[]) => { line: number; col: number };
};

/** edge.yaml's one document (an empty file is the defaults); its problems are added to `problems`. */
async function readFileValue(file: string, problems: ConfigProblem[]): Promise<Located> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    problems.push({
      source: file,
      path: '',
      message: `cannot read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    });
    return {};
  }
  const parsed = parseSource(file, text);
  if (parsed.objects.length === 0 && parsed.problems.every((p) => p.message.startsWith('file is empty')))
    return { value: {} };
  for (const p of parsed.problems)
    problems.push({ source: file, line: p.line, col: p.col, path: p.path, message: p.message });
  if (parsed.problems.length > 0) return {};
  const [first, second] = parsed.objects;
  if (second) {
    problems.push({ source: file, ...second.locate([]), path: '', message: 'edge.yaml holds one document' });
    return {};
  }
  const value = first!.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problems.push({
      source: file,
      ...first!.locate([]),
      path: '',
      message: 'must be a mapping of fields (nodeName: …)',
    });
    return {};
  }
  return { value, locate: first!.locate };
}

const rank = (p: ConfigProblem) => (p.line !== undefined ? 0 : p.source.startsWith('--set') ? 2 : 1);
