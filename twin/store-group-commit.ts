import type Database from 'better-sqlite3';
import type { Logger } from '../sdk/logger.js';
import { TwinStoreChainRefused, TwinStoreClosed, TwinStoreFull } from './store-errors.js';

interface Pending<Op> {
  op: Op;
  resolve(): void;
  reject(error: unknown): void;
  failed?: { error: unknown };
}

/**
 * What the group commit runs inside each transaction: `begin`, then `apply` per operation, then `end`, which
 * writes what the operations staged (store-batch.ts). If `apply` throws, the operation is refused alone;
 * if `end` throws, the whole transaction is rolled back. `committed` runs after a transaction committed.
 */
export interface BatchHooks<Op> {
  /**
   * The key (a device) whose operations depend on each other: once one is refused, the later ones of the
   * same key that were queued before the refusal could be seen are refused too (see GroupCommit).
   */
  keyOf(op: Op): string;
  begin(): void;
  apply(op: Op): void;
  end(): void;
  committed(): void;
}

/**
 * Group commit: operations queued in the same tick are applied in ONE transaction, started with
 * `setImmediate` once the tick's synchronous work is done, and each promise settles only after that
 * transaction has committed. better-sqlite3 commits synchronously, so nothing can be queued while a commit
 * runs: what the settled promises' callbacks queue goes into the next transaction.
 *
 * An operation is atomic, and one that throws (an unknown device) is rolled back alone: its promise
 * rejects, the others of its batch commit (see commit()). If the commit itself fails (disk full, a
 * lock held past busy_timeout), every promise of the batch rejects and nothing of it is written.
 *
 * The queue is bounded in changes (`maxPending`); an operation that does not fit is refused at once with
 * TwinStoreFull and nothing of it is queued.
 *
 * Operations of one key are a chain: a caller may have built an operation on top of an earlier one of the
 * same key that is still queued (the twin module applies updates to its cache before they commit). So
 * when one is refused, every later one of its key queued before the caller could learn of it is refused
 * too: the rest of its batch, and until the next flush, what is enqueued after a TwinStoreFull. Nothing
 * built on a refused operation is ever committed.
 */
export class GroupCommit<Op> {
  private queue: Pending<Op>[] = [];
  private pendingChanges = 0;
  private timer: NodeJS.Immediate | undefined;
  private closed = false;
  private committed = 0;
  private refusedInTick = false;
  /** Keys refused at enqueue since the last flush: their later operations are refused until then. */
  private readonly refusedKeys = new Set<string>();
  /** Every operation straight into the transaction: the first that throws rolls it all back. */
  private readonly fast: Database.Transaction<(items: Pending<Op>[]) => void>;
  /** Each operation in its own savepoint: one that throws is rolled back alone and marked failed. */
  private readonly isolated: Database.Transaction<(items: Pending<Op>[]) => void>;

  constructor(
    db: Database.Database,
    private readonly hooks: BatchHooks<Op>,
    private readonly maxPending: number,
    private readonly log: Logger,
  ) {
    const { begin, apply, end } = hooks;
    this.fast = db.transaction((items: Pending<Op>[]) => {
      begin();
      for (const item of items) apply(item.op);
      end();
    });
    const one = db.transaction(apply);
    this.isolated = db.transaction((items: Pending<Op>[]) => {
      begin();
      const failed = new Map<string, unknown>();
      for (const item of items) {
        const key = hooks.keyOf(item.op);
        const earlier = failed.get(key);
        if (earlier !== undefined) {
          item.failed = { error: new TwinStoreChainRefused(key, earlier) };
          continue;
        }
        try {
          one(item.op);
        } catch (error) {
          item.failed = { error };
          failed.set(key, error);
        }
      }
      end();
    });
  }

  /** Transactions committed so far. */
  get commits(): number {
    return this.committed;
  }

  /** Queues `op`, counted as `size` changes against the bound; resolves once it is committed. */
  enqueue(op: Op, size: number): Promise<void> {
    if (this.closed) return Promise.reject(new TwinStoreClosed());
    const key = this.hooks.keyOf(op);
    if (this.refusedKeys.has(key))
      return Promise.reject(new TwinStoreFull(this.pendingChanges, this.maxPending));
    if (this.pendingChanges + size > this.maxPending) {
      this.refusedKeys.add(key);
      // One warning per tick: the flush that empties the queue re-arms it.
      if (!this.refusedInTick)
        this.log.warn({ pending: this.pendingChanges, limit: this.maxPending }, 'twin store queue full');
      this.refusedInTick = this.queue.length > 0;
      return Promise.reject(new TwinStoreFull(this.pendingChanges, this.maxPending));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      this.pendingChanges += size;
      this.timer ??= setImmediate(() => this.flush());
    });
  }

  /** Commits everything queued now, synchronously; the promises settle as usual. */
  flush(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
    this.refusedInTick = false;
    this.refusedKeys.clear();
    const items = this.queue;
    if (items.length === 0) return;
    this.queue = [];
    this.pendingChanges = 0;
    try {
      this.commit(items);
    } catch (error) {
      this.log.error({ err: error, operations: items.length }, 'twin store commit failed');
      for (const item of items) item.reject(error);
      return;
    }
    for (const item of items) {
      if (item.failed) item.reject(item.failed.error);
      else item.resolve();
    }
  }

  /**
   * Savepoints cost about a fifth of the throughput, so a batch is first tried without them; only when an
   * operation throws (rare: an unknown device) is it rolled back and run again with one per operation.
   */
  private commit(items: Pending<Op>[]): void {
    try {
      this.fast.immediate(items);
    } catch {
      this.isolated.immediate(items);
    }
    this.committed++;
    this.hooks.committed();
  }

  /** Commits what is queued and refuses anything later. Safe twice. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }
}
