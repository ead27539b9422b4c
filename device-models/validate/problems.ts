import { compareText } from '../compare-text.js';

/**
 * `error`: the input is wrong and is refused. `warning`: the input is valid (KubeEdge would take it) but
 * probably not what was meant, e.g. a value read forever and sent nowhere.
 */
export type Severity = 'error' | 'warning';

/** One thing wrong with an input, where it is, and why. */
export interface Problem {
  file: string;
  line: number;
  col: number;
  /** Dotted field path inside the document, e.g. `spec.properties[2].visitors.configData.register`. */
  path: string;
  message: string;
  severity: Severity;
}

export type PathSegment = string | number;

export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${segment}` : segment;
  }
  return out;
}

/** `file:line:col  path  message` (`file:line:col  warning: path  message`), the line `edgetwin validate` prints. */
export function formatProblem(problem: Problem): string {
  const warning = problem.severity === 'warning' ? 'warning: ' : '';
  return `${problem.file}:${problem.line}:${problem.col}  ${warning}${problem.path || '-'}  ${problem.message}`;
}

/** By file, then line, then column: the order a person reads them in. */
export function compareProblems(a: Problem, b: Problem): number {
  return compareText(a.file, b.file) || a.line - b.line || a.col - b.col;
}

/** The closest candidate to a mistyped value, for "did you mean …?" hints. */
export function suggest(value: string, candidates: readonly string[]): string | undefined {
  const lower = value.toLowerCase();
  const byPrefix = candidates.find(
    (c) => c.toLowerCase().startsWith(lower) || lower.startsWith(c.toLowerCase()),
  );
  if (byPrefix) return byPrefix;
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
    }
    previous = current;
  }
  return previous[b.length]!;
}
