import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { startChild, stopChild } from '../test/support/child.js';
import { waitFor } from '../test/support/wait-for.js';
import { HeapSaver, type HeapSaverMode } from './heap-saver.js';

const MB = 2 ** 20;

/** A saver on a heap of the given sizes (MB, one per check), and the switches it made. */
function run(mode: HeapSaverMode, heapsMB: number[], limitMB = 96, settleChecks = 1) {
  let heap = heapsMB[0]!;
  const switches: boolean[] = [];
  const states: boolean[] = [];
  const saver = new HeapSaver({
    mode,
    limitBytes: limitMB * MB,
    settleChecks,
    heapBytes: () => heap * MB,
    setSaving: (on) => switches.push(on),
  });
  saver.start();
  states.push(saver.on);
  for (const next of heapsMB.slice(1)) {
    heap = next;
    saver.check();
    states.push(saver.on);
  }
  saver.stop();
  return { switches, states };
}

describe('HeapSaver', () => {
  it('auto: on while the heap is small, off over the limit, on again only under half of it', () => {
    const { switches, states } = run('auto', [30, 60, 97, 80, 50, 47, 90, 100]);
    expect(states).toEqual([true, true, false, false, false, true, true, false]);
    expect(switches).toEqual([true, false, true, false]);
  });

  it('auto: a heap under the limit at start turns it on, one over the limit leaves it off', () => {
    expect(run('auto', [60, 100, 50, 40]).switches).toEqual([true, false, true]);
    expect(run('auto', [200, 60, 20]).switches).toEqual([false, true]);
  });

  it('auto: turns it on only after the heap stays under the bound for settleChecks looks in a row', () => {
    // Off (V8's default) at first; a heap still growing from the start passes the limit before it settles.
    expect(run('auto', [20, 30, 70, 80], 64, 3).states).toEqual([false, false, false, false]);
    expect(run('auto', [20, 30, 70, 80], 64, 3).switches).toEqual([false]);
    expect(run('auto', [20, 30, 40, 50], 64, 3).states).toEqual([false, false, true, true]);
    // Once over the limit, it takes settleChecks looks under half of it.
    expect(run('auto', [70, 30, 40, 30, 30, 30], 64, 3).states).toEqual([
      false,
      false,
      false,
      false,
      false,
      true,
    ]);
  });

  it('on and off hold whatever the heap does', () => {
    expect(run('on', [500, 10]).states).toEqual([true, true]);
    expect(run('off', [10, 500]).states).toEqual([false, false]);
    expect(run('on', [500, 10]).switches).toEqual([true]);
  });
});

const built = fileURLToPath(new URL('../dist/edgecore/heap-saver.js', import.meta.url));

/**
 * The largest heap V8 commits for a workload that keeps ~20 MB alive and churns objects that live long enough
 * to be promoted, in a fresh process with the saver in `mode` (dist/, as `npm test` builds it first).
 */
async function largestHeapMB(mode: HeapSaverMode): Promise<number> {
  const script = `
    const { getHeapStatistics } = await import('node:v8');
    const { HeapSaver } = await import(${JSON.stringify(built)});
    new HeapSaver({ mode: ${JSON.stringify(mode)}, limitBytes: 96 * 2 ** 20, settleChecks: 1 }).start();
    const live = [];
    for (let i = 0; i < 200000; i++) live.push({ a: i, b: 'x' + i });
    const ring = new Array(50000);
    let largest = 0;
    for (let i = 0; i < 3000000; i++) {
      ring[i % 50000] = { v: i, s: 'y' + i };
      if (i % 1000 === 0) largest = Math.max(largest, getHeapStatistics().total_heap_size);
    }
    console.log(JSON.stringify({ largest, kept: live.length + ring.length }));
    process.exit(0);`;
  const { stdout } = await promisify(execFile)(process.execPath, [
    '--max-semi-space-size=2',
    '--input-type=module',
    '-e',
    script,
  ]);
  const { largest, kept } = JSON.parse(stdout) as { largest: number; kept: number };
  expect(kept).toBe(250_000);
  return largest / MB;
}

describe('HeapSaver on V8', () => {
  it('switches V8 itself: the same workload commits a far smaller heap with the saver on', async () => {
    const [on, off, auto] = await Promise.all([
      largestHeapMB('on'),
      largestHeapMB('off'),
      largestHeapMB('auto'),
    ]);
    // Measured: on 35 MB, off 92 MB; auto (here on after one look) stays on, the heap never reaching the limit.
    expect(on).toBeLessThan(off * 0.6);
    expect(auto).toBeLessThan(off * 0.6);
  });
});

const cli = fileURLToPath(new URL('../dist/edgecore/cli/main.js', import.meta.url));

/** `edgetwin edge` with no devices and `args`; waits for edgetwin_heap_saver on its /metrics to read `expected`. */
async function saverGauge(args: string[], expected: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-saver-'));
  const config = join(dir, 'edge.yaml');
  await writeFile(
    config,
    JSON.stringify({
      dataDir: join(dir, 'data'),
      eventBus: { internal: { port: 0 } },
      http: { port: 0 },
      devices: { dirs: [join(dir, 'none')], watch: false },
    }),
  );
  const { child, match } = await startChild(
    process.execPath,
    [cli, 'edge', '--config', config, ...args],
    /edgecore \S+: broker \S+, http (\S+)/,
  );
  try {
    // The saver turns on after the heap has stayed small for 5 looks, 2 s apart; until then the gauge reads 0.
    return await waitFor(
      `edgetwin_heap_saver ${expected}`,
      async () => {
        const metrics = await (await fetch(`${match[1]}/metrics`)).text();
        return /^edgetwin_heap_saver (\d+)$/m.exec(metrics)?.[1] === expected && expected;
      },
      30_000,
      200,
    );
  } finally {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  }
}

describe('edgetwin edge and memory.saver', () => {
  it('turns the saver on for a small edge by default, and leaves it off when told', async () => {
    const [auto, off] = await Promise.all([
      saverGauge([], '1'),
      saverGauge(['--set', 'memory.saver=off'], '0'),
    ]);
    expect(auto).toBe('1');
    expect(off).toBe('0');
  });
});
