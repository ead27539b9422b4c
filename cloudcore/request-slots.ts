/**
 * A bound on the requests cloudcore has in flight at the API server: at most `limit` at a time, the others wait
 * their turn in the order they asked. Without it a fleet's status writes all go at once (thousands in flight),
 * each waits its turn inside the API server instead, past its timeout, and the server answers 504s.
 */
export class RequestSlots {
  private held = 0;
  private readonly waiting: (() => void)[] = [];
  /** Index of the first waiter still waiting (taken lazily, so a turn is O(1)). */
  private head = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`request slots: ${limit} is not a count ≥ 1`);
  }

  /** Requests in flight now. */
  get inFlight(): number {
    return this.held;
  }

  /** Requests waiting for a slot now. */
  get queued(): number {
    return this.waiting.length - this.head;
  }

  /** Resolves once a slot is this caller's; call the function it gives (once) to hand the slot on. */
  acquire(): Promise<() => void> {
    if (this.held < this.limit) {
      this.held++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => this.waiting.push(() => resolve(this.releaser())));
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting[this.head];
      if (!next) {
        this.held--;
        return;
      }
      // The slot goes straight to the next waiter: held stays as it is.
      this.waiting[this.head++] = undefined as never;
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting.splice(0, this.head);
        this.head = 0;
      }
      next();
    };
  }
}
