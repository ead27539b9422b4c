/**
 * Deadlines of the runtime's calls without a timer each: one list per duration, in the order the deadlines
 * fall (a later call of the same duration ends later), and one timer per list, armed for its first entry.
 * Arming and clearing a deadline is linking and unlinking a node; the timer is re-armed only when it fires,
 * and cleared when its list empties, so nothing is left running once every call has settled.
 * The clock is `performance.now()` (monotonic, and faked along with the timers in tests).
 */

/** Something with a deadline: its place on a list (kept by this module) and what to do when it passes. */
export interface DeadlineEntry {
  due: number;
  prevDue: DeadlineEntry | undefined;
  nextDue: DeadlineEntry | undefined;
  dueList: DeadlineList | undefined;
  expire(): void;
}

export interface DeadlineList {
  readonly ms: number;
  head: DeadlineEntry | undefined;
  tail: DeadlineEntry | undefined;
  timer: NodeJS.Timeout | undefined;
  /** When the timer should fire: past this by far, it was lost (a test swapped the timers) and is re-armed. */
  timerDue: number;
}

/** A timer this late is taken for lost. */
const LOST_AFTER_MS = 1000;

const lists = new Map<number, DeadlineList>();

/** Puts `entry` on the list for `ms`: its `expire()` is called in about `ms`, unless `unschedule`d first. */
export function schedule(entry: DeadlineEntry, ms: number): void {
  let list = lists.get(ms);
  if (!list) {
    list = { ms, head: undefined, tail: undefined, timer: undefined, timerDue: 0 };
    lists.set(ms, list);
  }
  const now = performance.now();
  entry.due = now + ms;
  entry.dueList = list;
  entry.prevDue = list.tail;
  entry.nextDue = undefined;
  if (list.tail) list.tail.nextDue = entry;
  else list.head = entry;
  list.tail = entry;
  if (!list.timer) arm(list, ms, now);
  else if (now > list.timerDue + LOST_AFTER_MS) {
    clearTimeout(list.timer);
    arm(list, Math.max(0, list.head!.due - now), now);
  }
}

/** Takes `entry` off its list, if it is on one. */
export function unschedule(entry: DeadlineEntry): void {
  const list = entry.dueList;
  if (!list) return;
  unlink(list, entry);
  if (!list.head && list.timer) {
    clearTimeout(list.timer);
    list.timer = undefined;
  }
}

function unlink(list: DeadlineList, entry: DeadlineEntry): void {
  const { prevDue, nextDue } = entry;
  if (prevDue) prevDue.nextDue = nextDue;
  else list.head = nextDue;
  if (nextDue) nextDue.prevDue = prevDue;
  else list.tail = prevDue;
  entry.prevDue = undefined;
  entry.nextDue = undefined;
  entry.dueList = undefined;
}

function arm(list: DeadlineList, delay: number, now: number): void {
  list.timerDue = now + delay;
  list.timer = setTimeout(() => fire(list), Math.ceil(delay));
}

function fire(list: DeadlineList): void {
  list.timer = undefined;
  // Timers keep whole milliseconds: one that fires within a millisecond of a deadline has met it.
  const now = performance.now() + 1;
  let entry = list.head;
  while (entry && entry.due <= now) {
    unlink(list, entry);
    entry.expire();
    entry = list.head;
  }
  if (list.head && !list.timer) arm(list, Math.max(1, list.head.due - now + 1), now - 1);
}
