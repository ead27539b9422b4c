import { readFileSync } from 'node:fs';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in these (100 on every architecture Node runs on). */
const TICKS_PER_SECOND = 100;

/** A process's CPU time so far (user + system, seconds) and resident memory (bytes), from /proc. */
export interface ProcSample {
  at: number;
  cpuSeconds: number;
  rssBytes: number;
}

/** Undefined when the process is gone (or this is not Linux). */
export function procSample(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return { at: performance.now(), cpuSeconds: ticks / TICKS_PER_SECOND, rssBytes: Number(rss ?? 0) * 1024 };
  } catch {
    return undefined;
  }
}

/** CPU used between two samples, in cores (1.0: one core busy all the time). */
export function cores(from: ProcSample, to: ProcSample): number {
  return (to.cpuSeconds - from.cpuSeconds) / ((to.at - from.at) / 1000);
}

/**
 * The sum of a metric over its series whose labels include `labels` (a label given as a RegExp must match), in
 * Prometheus' text format.
 */
export function promSum(text: string, name: string, labels: Record<string, string | RegExp> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = new Map<string, string>();
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found.set(pair[1]!, pair[2]!);
    const wanted = Object.entries(labels).every(([key, want]) => {
      const value = found.get(key);
      return value !== undefined && (typeof want === 'string' ? value === want : want.test(value));
    });
    if (wanted) total += Number(match[3]);
  }
  return total;
}

/** The q-quantile (0…1) of samples, nearest rank; NaN for none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
