import { SerialQueue } from './serial-queue.js';

/**
 * The runtime's timers, in one place so that `stop()` can prove it leaves none behind.
 * `every` never overlaps runs: a tick that is still running when the next is due is skipped, so a slow
 * device cannot pile up requests (the bound on in-flight work per cycle is one).
 */
export class Timers {
  private readonly handles = new Set<NodeJS.Timeout>();
  private readonly joined = new Set<() => void>();
  private stopped = false;

  /** `cycles` drives `every` (default: the process's clock, shared by every device in it). */
  constructor(private readonly cycles: CycleClock = processCycles) {}

  /** Calls `fn` after `ms`, unless stopped first. */
  after(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const handle = setTimeout(() => {
      this.handles.delete(handle);
      fn();
    }, ms);
    this.handles.add(handle);
  }

  /**
   * Calls `fn` every `ms` on the clock's cycle of `ms` (see CycleClock), in the slot `spread` picks (a
   * fraction in [0, 1), see `spreadOf`; default ½), first at least ½·ms from now (or at once with
   * `immediate`), never two runs at a time. With `line`, runs of every `every` on the same line (in this
   * clock, of any period) take turns: a run due while another holds the line starts when that one settles, in
   * the order they fell due; a run whose turn comes after stop() is skipped.
   */
  every(
    ms: number,
    fn: () => Promise<void>,
    options: { immediate?: boolean; spread?: number; line?: string } = {},
  ): void {
    if (this.stopped) return;
    let running = false;
    const finished = () => {
      running = false;
    };
    const { line } = options;
    const turns = line === undefined ? undefined : this.cycles.turns(line);
    const run = turns ? () => (this.stopped ? Promise.resolve() : fn()) : fn;
    const tick = () => {
      if (this.stopped || running) return;
      running = true;
      (turns ? turns.run(run) : run()).then(finished, finished);
    };
    if (options.immediate) queueMicrotask(tick);
    const leave = this.cycles.join(ms, tick, options.spread ?? 0.5);
    this.joined.add(
      line === undefined
        ? leave
        : () => {
            leave();
            this.cycles.leaveTurns(line);
          },
    );
  }

  get size(): number {
    return this.handles.size + this.joined.size;
  }

  /** Clears every timer; later calls to `after`/`every` do nothing. */
  stop(): void {
    this.stopped = true;
    for (const handle of this.handles) clearTimeout(handle);
    for (const leave of this.joined) leave();
    this.handles.clear();
    this.joined.clear();
  }
}

/**
 * The periodic runs of a process, one timer per period. Every run of the same period is in one of `slots` slots
 * (default 4) picked by its spread, and a slot's runs start together, one after the other in the order they
 * joined, so each keeps its place and the time between its reads stays the period.
 *
 * Why together: on a 2-core VM, each time the event loop sleeps and wakes costs the edge about as much as a
 * request's own work. Devices that ask one by one, spread over the period, wake it twice per request (their
 * timer, then the answer); devices that ask together queue on their lines, each answer sends the next request
 * in the same wake, and several lines' answers arrive in one wake. 1,000 Modbus devices on five lines of 200:
 * 0.33–0.38 cores one by one, 0.26–0.29 all in one slot, 0.28–0.31 in 4 slots, 0.32–0.38 in 8 (README,
 * Benchmarks). One slot makes each line's queue as long as its whole period's work, and 2,000 devices then fell
 * behind (p99 between reads 1,443–2,207 ms); 4 slots keep it to a quarter (1,132–1,205 ms).
 *
 * Why one timer per period: a Node interval is re-armed from when its callback ran, so every late run moves all
 * later ones. Timers of devices that fell due while the loop was busy (a full collection, a long commit) came
 * out of it together and stayed together, at random. Here a tick is due at a fixed time; a late one runs the
 * slots it missed once, and the next is due on schedule.
 */
export class CycleClock {
  private readonly cycles = new Map<number, Cycle>();
  /** Per shared line, the queue its runs take turns on, and how many `every`s use it. */
  private readonly lines = new Map<string, { queue: SerialQueue; users: number }>();

  /** `slots` slots per period: 1 starts every run of a period at once. */
  constructor(private readonly slots = DEFAULT_SLOTS) {}

  /**
   * Calls `run` once every `ms`, in the slot `spread` (a fraction in [0, 1)) picks, first at least ½·ms from
   * now. Returns what to call to stop.
   */
  join(period: number, run: () => void, spread: number): () => void {
    // As an interval would: a period under a millisecond is one.
    const ms = Math.max(1, period);
    let cycle = this.cycles.get(ms);
    if (!cycle) {
      const made = new Cycle(ms, Math.max(1, Math.min(this.slots, Math.floor(ms))), () => {
        if (this.cycles.get(ms) === made) this.cycles.delete(ms);
      });
      cycle = made;
      this.cycles.set(ms, cycle);
    }
    return cycle.join(run, spread);
  }

  /**
   * The queue on which the runs of the devices on `line` take turns (Timers.every's `line`); each call must be
   * matched by one `leaveTurns`. Why: devices that share a line that answers one request at a time wait for it
   * anyway, but a run that starts and then waits holds its whole chain of calls (runtime, driver, connection)
   * while it waits, long enough for V8 to copy it out of the young generation. 2,000 Modbus devices on ten
   * lines: 0.45–0.48 cores instead of 0.51–0.53 (README, Benchmarks, "The devices of one line take turns").
   * A run that waits its turn also cannot reach its deadline while others hold the line.
   */
  turns(line: string): SerialQueue {
    let entry = this.lines.get(line);
    if (!entry) {
      entry = { queue: new SerialQueue(), users: 0 };
      this.lines.set(line, entry);
    }
    entry.users++;
    return entry.queue;
  }

  leaveTurns(line: string): void {
    const entry = this.lines.get(line);
    if (entry && --entry.users === 0) this.lines.delete(line);
  }

  /** Periods with a run (for tests). */
  get size(): number {
    return this.cycles.size;
  }

  /** Lines with runs taking turns (for tests). */
  get lineCount(): number {
    return this.lines.size;
  }
}

/** Slots per period: see CycleClock. */
const DEFAULT_SLOTS = 4;

interface Member {
  run: () => void;
  notBefore: number;
}

/** One period's timer and its slots. */
class Cycle {
  private readonly slots: Set<Member>[];
  private readonly step: number;
  /** The slot the next tick runs, and when it is due (performance.now()). */
  private next = 0;
  private due = 0;
  private handle: NodeJS.Timeout | undefined;

  constructor(
    private readonly ms: number,
    count: number,
    private readonly emptied: () => void,
  ) {
    this.slots = Array.from({ length: count }, () => new Set<Member>());
    this.step = ms / count;
  }

  join(run: () => void, spread: number): () => void {
    const now = performance.now();
    if (this.handle === undefined) {
      // The first slot a whole step from now, the last a whole period from now.
      this.next = 0;
      this.due = now + this.step;
      this.arm(now);
    }
    const slot = this.slots[Math.min(this.slots.length - 1, Math.floor(spread * this.slots.length))]!;
    const member: Member = { run, notBefore: now + this.ms / 2 };
    slot.add(member);
    return () => {
      if (!slot.delete(member)) return;
      if (this.slots.some((other) => other.size > 0)) return;
      clearTimeout(this.handle);
      this.handle = undefined;
      this.emptied();
    };
  }

  private arm(now: number): void {
    this.handle = setTimeout(this.tick, Math.max(0, Math.round(this.due - now)));
  }

  private readonly tick = () => {
    const now = performance.now();
    // Every slot due by now, once: a tick late by more than a step runs the slots it missed, late.
    const due: Set<Member>[] = [];
    for (let i = 0; i < this.slots.length && this.due <= now + 1; i++) {
      due.push(this.slots[this.next]!);
      this.next = (this.next + 1) % this.slots.length;
      this.due += this.step;
    }
    if (this.due <= now) {
      const behind = Math.ceil((now - this.due) / this.step);
      this.due += behind * this.step;
      this.next = (this.next + behind) % this.slots.length;
    }
    this.arm(now);
    for (const slot of due) for (const member of slot) if (now >= member.notBefore) member.run();
  };
}

/** The clock every runtime in this process uses unless given another. */
export const processCycles = new CycleClock();

/**
 * Where in its period a timer keyed `key` (a device's id) runs, as a fraction in [0, 1): the same for the
 * same key on every start, and uniform over many keys (FNV-1a, then mixed). With more than one slot per period
 * (CycleClock), it spreads devices over the slots.
 */
export function spreadOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  // FNV-1a alone leaves the high bits of keys that differ only at the end (dev-1, dev-2…) close together:
  // 200 such ids on one line bunched into a few stretches of the period. MurmurHash3's finaliser mixes them.
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b);
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 2 ** 32;
}
