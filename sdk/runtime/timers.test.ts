import { afterEach, describe, expect, it } from 'vitest';
import { CycleClock, spreadOf, Timers } from './timers.js';

/** The mean time a request waits for its line, each device asking once a period at its spread. */
function meanLineWait(ids: string[], periodMs: number, requestMs: number): number {
  const due = ids.map((id) => spreadOf(id) * periodMs).sort((a, b) => a - b);
  let free = 0;
  let waited = 0;
  // Two periods, so that the second starts with whatever the first left queued.
  for (let period = 0; period < 2; period++)
    for (const at of due) {
      const t = period * periodMs + at;
      const start = Math.max(t, free);
      if (period === 1) waited += start - t;
      free = start + requestMs;
    }
  return waited / ids.length;
}

describe('spreadOf', () => {
  it('spreads ids that differ only at the end over the whole period', () => {
    const ids = Array.from({ length: 200 }, (_, n) => `default/dev-${n}`);
    const buckets = new Array<number>(10).fill(0);
    for (const id of ids) buckets[Math.floor(spreadOf(id) * 10)]!++;
    // 20 expected per tenth of the period.
    for (const count of buckets) expect(count).toBeGreaterThanOrEqual(8);
    for (const count of buckets) expect(count).toBeLessThanOrEqual(34);
  });

  it('lets 200 devices on one line at 1 s, 2 ms a request, take turns rather than queue', () => {
    for (const prefix of ['default/dev-', 'plant/line-1-slave-', 'x'])
      expect(
        meanLineWait(
          Array.from({ length: 200 }, (_, n) => `${prefix}${n}`),
          1000,
          2,
        ),
      ).toBeLessThan(2);
  });

  it('is the same for the same id', () => {
    expect(spreadOf('default/dev-7')).toBe(spreadOf('default/dev-7'));
    expect(spreadOf('default/dev-7')).toBeGreaterThanOrEqual(0);
    expect(spreadOf('default/dev-7')).toBeLessThan(1);
  });
});

describe('Timers.every on a CycleClock', () => {
  let timers: Timers | undefined;
  afterEach(() => timers?.stop());

  it('keeps every slot at its time after the event loop was blocked', async () => {
    const period = 100;
    const cycles = new CycleClock(4);
    timers = new Timers(cycles);
    const origin = performance.now();
    const runs: Record<'a' | 'b', number[]> = { a: [], b: [] };
    let blocked = false;
    await new Promise<void>((resolve) => {
      const run = (name: 'a' | 'b') => async () => {
        runs[name].push(performance.now() - origin);
        if (!blocked && runs.a.length >= 2 && runs.b.length >= 2) {
          blocked = true;
          // A full collection or a long commit: both fall due while nothing runs.
          const until = performance.now() + 2.6 * period;
          while (performance.now() < until);
        }
        if (runs.a.length >= 8 && runs.b.length >= 8) resolve();
      };
      // Slot 0 (a quarter period after the clock started) and slot 2 (three quarters).
      timers!.every(period, run('a'), { spread: 0.1 });
      timers!.every(period, run('b'), { spread: 0.6 });
    });
    // After the block, each runs at its slot's time again (a Node interval re-armed from the late run would
    // have had both run together from then on).
    const phase = (t: number) => ((t % period) + period) % period;
    for (const t of runs.a.slice(-4)) expect(Math.abs(phase(t) - 25)).toBeLessThan(12);
    for (const t of runs.b.slice(-4)) expect(Math.abs(phase(t) - 75)).toBeLessThan(12);
  });

  it('runs a slot missed while blocked once, and skips the run of one still going', async () => {
    const period = 50;
    timers = new Timers(new CycleClock(1));
    let active = 0;
    let most = 0;
    let count = 0;
    const started: number[] = [];
    await new Promise<void>((resolve) => {
      timers!.every(period, async () => {
        active++;
        most = Math.max(most, active);
        started.push(performance.now());
        if (++count === 2) {
          const until = performance.now() + 4.2 * period;
          while (performance.now() < until);
        }
        // A run longer than the period: the run due meanwhile is skipped.
        if (count === 4) await new Promise((r) => setTimeout(r, 1.5 * period));
        active--;
        if (count === 6) resolve();
      });
    });
    expect(most).toBe(1);
    // No burst of catch-up runs after the block.
    expect(started[3]! - started[2]!).toBeGreaterThan(period / 2);
  });

  it('runs a period under a millisecond every millisecond, as an interval would', async () => {
    timers = new Timers(new CycleClock());
    let runs = 0;
    await new Promise<void>((resolve) => {
      timers!.every(0, async () => {
        if (++runs === 5) resolve();
      });
    });
    expect(runs).toBe(5);
  });

  it('lets the runs of devices on one line take turns, beside other lines, skipping one stopped while it waited', async () => {
    const cycles = new CycleClock(1);
    const started: string[] = [];
    const gates = new Map<string, () => void>();
    const waiters = new Map<string, () => void>();
    const startedRun = (name: string) =>
      new Promise<void>((resolve) => {
        if (started.includes(name)) resolve();
        else waiters.set(name, resolve);
      });
    const device = (name: string, line: string) => {
      const t = new Timers(cycles);
      // A long period: only the immediate first run of each device matters here.
      t.every(
        60_000,
        () =>
          new Promise<void>((resolve) => {
            started.push(name);
            gates.set(name, resolve);
            waiters.get(name)?.();
          }),
        { immediate: true, line },
      );
      return t;
    };
    const a = device('a', 'gateway-1');
    const b = device('b', 'gateway-1');
    const c = device('c', 'gateway-1');
    const m = device('m', 'gateway-2');
    expect(cycles.lineCount).toBe(2);
    await Promise.all([startedRun('a'), startedRun('m')]);
    // b and c wait for the line a holds; m's line is free.
    expect(started).toEqual(['a', 'm']);
    b.stop();
    gates.get('a')!();
    await startedRun('c');
    // b stopped while it waited: its turn passed without a run.
    expect(started).toEqual(['a', 'm', 'c']);
    gates.get('c')!();
    gates.get('m')!();
    for (const t of [a, c, m]) t.stop();
    expect(cycles.lineCount).toBe(0);
  });

  it('drives a thousand devices of one period with one timer, in the order they joined, and none once they leave', async () => {
    const cycles = new CycleClock(1);
    const order: number[] = [];
    const group = Array.from({ length: 1000 }, () => new Timers(cycles));
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timeouts();
    await new Promise<void>((resolve) => {
      group.forEach((t, i) => {
        t.every(20, async () => {
          order.push(i);
          if (order.length === 2000) resolve();
        });
      });
      expect(cycles.size).toBe(1);
      expect(timeouts()).toBe(before + 1);
    });
    expect(order).toEqual([
      ...Array.from({ length: 1000 }, (_, i) => i),
      ...Array.from({ length: 1000 }, (_, i) => i),
    ]);
    for (const t of group) t.stop();
    expect(cycles.size).toBe(0);
    expect(timeouts()).toBe(before);
  });
});
