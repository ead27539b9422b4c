import type fc from 'fast-check';

/**
 * How long a fuzz property runs. In `npm test` (no environment set): a fixed seed and `quick` runs, a few
 * seconds. `npm run fuzz` sets FUZZ_RUNS (default there 500 per property) and a fresh seed; FUZZ_SEED replays one,
 * FUZZ_TIME_MS stops a property after that long (not a failure).
 */
export function fuzzParams(quick: number): fc.Parameters<unknown> {
  const runs = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : quick;
  const seed = process.env.FUZZ_SEED
    ? Number(process.env.FUZZ_SEED)
    : process.env.FUZZ_RUNS
      ? Date.now() % 2 ** 31
      : 13;
  const timeMs = process.env.FUZZ_TIME_MS ? Number(process.env.FUZZ_TIME_MS) : undefined;
  return {
    seed,
    numRuns: runs,
    endOnFailure: true,
    ...(timeMs ? { interruptAfterTimeLimit: timeMs, markInterruptAsFailure: false } : {}),
  };
}

/** A test's time limit: generous in a long run. */
export const fuzzTimeout = (quickMs: number) => (process.env.FUZZ_RUNS ? 60 * 60_000 : quickMs);
