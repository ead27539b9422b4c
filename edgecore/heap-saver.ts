import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import type { Logger } from '../sdk/internal.js';

export type HeapSaverMode = 'auto' | 'on' | 'off';

export interface HeapSaverOptions {
  mode: HeapSaverMode;
  /**
   * auto: on once V8's heap has stayed under this many bytes for `settleChecks` looks; off as soon as it is over,
   * and from then on back on only under half of it.
   */
  limitBytes: number;
  /** How often auto looks at the heap, ms (default 2 000). */
  everyMs?: number;
  /** Looks in a row with the heap under the bound before auto turns the saver on (default 5: 10 s). */
  settleChecks?: number;
  /** V8's heap, bytes (default: its committed size, `total_heap_size`). */
  heapBytes?: () => number;
  /** Turns V8's memory-saving mode on or off (default: `--optimize-for-size` through v8.setFlagsFromString). */
  setSaving?: (on: boolean) => void;
  /** Called on every switch, and once at start. */
  onSwitch?: (on: boolean) => void;
  log?: Logger;
}

const v8Saving = (on: boolean) => setFlagsFromString(on ? '--optimize-for-size' : '--no-optimize-for-size');
const committedHeap = () => getHeapStatistics().total_heap_size;

/**
 * V8's memory-saving mode (`--optimize-for-size`: the old generation grows in steps of 4 MB rather than 16 and is
 * compacted harder) while the heap is small, where it saves a tenth of the edge's RSS for little CPU; off once the
 * heap is large, where it would cost more GC time than it saves (1,000 devices: 0.45 cores against 0.2). The V8
 * flag is read at each collection, so it can be switched while the process runs, as a browser does for a tab in
 * the background. Process-wide: one per process.
 */
export class HeapSaver {
  private timer?: NodeJS.Timeout;
  private saving?: boolean;
  /** Looks in a row with the heap under the bound. */
  private under = 0;
  /** The heap has been over the limit once: the bound to come back on is half the limit. */
  private exceeded = false;
  private readonly heapBytes: () => number;
  private readonly setSaving: (on: boolean) => void;

  constructor(private readonly options: HeapSaverOptions) {
    this.heapBytes = options.heapBytes ?? committedHeap;
    this.setSaving = options.setSaving ?? v8Saving;
  }

  /** Whether the saver is on now. */
  get on(): boolean {
    return this.saving === true;
  }

  start(): void {
    const { mode } = this.options;
    this.check();
    if (mode !== 'auto') return;
    this.timer = setInterval(() => this.check(), this.options.everyMs ?? 2000);
    this.timer.unref();
  }

  /**
   * One look at the heap (auto): over the limit, off at once; on only after `settleChecks` looks in a row under
   * the limit (under half of it once the heap has been over), so that an edge whose heap is still growing from
   * its start never runs with the saver: a few seconds of it at start left 1,000 devices ~15 % slower after.
   */
  check(): void {
    const { mode, limitBytes } = this.options;
    if (mode !== 'auto') {
      this.switchTo(mode === 'on');
      return;
    }
    const heap = this.heapBytes();
    if (heap > limitBytes) {
      this.exceeded = true;
      this.under = 0;
      this.switchTo(false, heap);
      return;
    }
    this.under = heap < (this.exceeded ? limitBytes / 2 : limitBytes) ? this.under + 1 : 0;
    if (this.under >= (this.options.settleChecks ?? 5)) this.switchTo(true, heap);
    else if (this.saving === undefined) this.switchTo(false, heap);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private switchTo(on: boolean, heap?: number): void {
    if (this.saving === on) return;
    this.saving = on;
    this.setSaving(on);
    this.options.onSwitch?.(on);
    this.options.log?.info(
      { mode: this.options.mode, ...(heap === undefined ? {} : { heapMB: Math.round(heap / 2 ** 20) }) },
      on ? "V8's memory saver on" : "V8's memory saver off",
    );
  }
}
