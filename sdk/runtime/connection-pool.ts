import { setMaxListeners } from 'node:events';
import { DeviceUnavailable } from '../errors.js';
import { Abort, abortable } from './call.js';
import { SerialQueue } from './serial-queue.js';
import type { Connections, Opener, SharedConnection } from './shared-connection.js';

export type { Connections, Opener, SharedConnection } from './shared-connection.js';

interface Entry<H> {
  settings: string | undefined;
  opening: Promise<H>;
  handle?: H;
  holders: number;
  queue: SerialQueue;
  lost: Abort;
  close: (handle: H) => Promise<void>;
  closed?: Promise<void>;
}

/**
 * One connection per physical endpoint (a serial line, a TCP gateway, a radio adapter), shared by every
 * device that names it and reference-counted: opened by the first device, closed after the last. Requests from
 * all of them are serialised on it, each with its own signal.
 */
export class ConnectionPool implements Connections {
  private readonly entries = new Map<string, Entry<unknown>>();

  /** Open connections (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  /** A hold on the connection `key` names, opened with `opener` if no device holds it yet. */
  async acquire<H>(key: string, opener: Opener<H>): Promise<SharedConnection<H>> {
    let entry = this.entries.get(key) as Entry<H> | undefined;
    if (entry && entry.settings !== opener.settings)
      throw new DeviceUnavailable(
        `${key} is already open with ${entry.settings ?? 'other settings'}; this device asks for ${opener.settings ?? 'the defaults'}`,
      );
    if (!entry) entry = this.open(key, opener);
    entry.holders++;
    let handle: H;
    try {
      handle = await entry.opening;
    } catch (error) {
      entry.holders--;
      throw error;
    }
    return this.lease(key, entry, handle);
  }

  private open<H>(key: string, opener: Opener<H>): Entry<H> {
    const lost = new Abort();
    // Every holder listens to its signal (their requests listen to `lost` itself, without an EventTarget).
    setMaxListeners(0, lost.signal);
    const entry: Entry<H> = {
      settings: opener.settings,
      holders: 0,
      queue: new SerialQueue({ holdUntilSettled: true }),
      lost,
      close: opener.close,
      opening: Promise.resolve(undefined as H),
    };
    entry.opening = opener.open((reason) => this.drop(key, entry, reason));
    entry.opening.then(
      (handle) => {
        entry.handle = handle;
        if (entry.lost.aborted) void this.shut(entry);
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    this.entries.set(key, entry as Entry<unknown>);
    return entry;
  }

  private lease<H>(key: string, entry: Entry<H>, handle: H): SharedConnection<H> {
    let released = false;
    return {
      key,
      handle,
      lost: entry.lost.signal,
      exclusive: (work, signal) => {
        const lost = entry.lost;
        const turn = entry.queue.run(
          () => (lost.aborted ? Promise.reject(lost.reason) : work(handle)),
          signal,
        );
        // A connection lost or closed under a request fails it now: the library may never answer it.
        return abortable(turn, lost);
      },
      fail: (reason) => this.drop(key, entry, reason),
      release: async () => {
        if (released) return;
        released = true;
        entry.holders--;
        if (entry.holders > 0) return;
        if (this.entries.get(key) === entry) this.entries.delete(key);
        await this.shut(entry);
      },
    };
  }

  /** The connection broke: forget it (the next acquire opens a new one) and tell every holder. */
  private drop<H>(key: string, entry: Entry<H>, reason: Error): void {
    if (this.entries.get(key) === entry) this.entries.delete(key);
    if (entry.lost.aborted) return;
    const error =
      reason instanceof DeviceUnavailable
        ? reason
        : new DeviceUnavailable(`${key}: ${reason.message}`, { cause: reason });
    entry.lost.abort(error);
    void this.shut(entry);
  }

  private shut<H>(entry: Entry<H>): Promise<void> {
    if (!entry.lost.aborted) entry.lost.abort(new DeviceUnavailable('the connection was closed'));
    if (entry.handle === undefined) return Promise.resolve();
    entry.closed ??= entry.close(entry.handle).catch(() => {});
    return entry.closed;
  }
}

/** The pool every driver in this process shares unless given another: a serial port can be opened once. */
export const sharedConnections = new ConnectionPool();
