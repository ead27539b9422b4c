import { describe, expect, it } from 'vitest';
import { DeviceUnavailable } from '../errors.js';
import { ConnectionPool, type Opener } from './connection-pool.js';
import { SerialQueue } from './serial-queue.js';

/** An opener that counts opens and closes of a fake handle, and keeps the `lost` callback of each open. */
function counting(settings?: string) {
  const log = { opens: 0, closes: 0, lost: [] as ((reason: Error) => void)[] };
  const opener: Opener<{ n: number }> = {
    ...(settings ? { settings } : {}),
    open: async (lost) => {
      log.lost.push(lost);
      return { n: ++log.opens };
    },
    close: async () => {
      log.closes++;
    },
  };
  return { log, opener };
}

describe('ConnectionPool', () => {
  it('opens one connection per key for every device that names it, and closes it after the last', async () => {
    const pool = new ConnectionPool();
    const { log, opener } = counting();
    const leases = await Promise.all([1, 2, 3, 4].map(() => pool.acquire('serial:/dev/ttyUSB0', opener)));
    expect(log.opens).toBe(1);
    expect(new Set(leases.map((l) => l.handle)).size).toBe(1);
    await leases[0]!.release();
    await leases[0]!.release();
    await Promise.all(leases.slice(1, 3).map((l) => l.release()));
    expect(log.closes).toBe(0);
    await leases[3]!.release();
    expect(log.closes).toBe(1);
    expect(pool.size).toBe(0);
  });

  it('refuses a device that names the same line with other settings', async () => {
    const pool = new ConnectionPool();
    const lease = await pool.acquire('serial:/dev/ttyUSB0', counting('9600 baud').opener);
    await expect(pool.acquire('serial:/dev/ttyUSB0', counting('115200 baud').opener)).rejects.toThrow(
      /9600 baud.*115200 baud/,
    );
    await lease.release();
  });

  it('tells every holder when the line is lost, and opens a new one on the next acquire', async () => {
    const pool = new ConnectionPool();
    const { log, opener } = counting();
    const a = await pool.acquire('k', opener);
    const b = await pool.acquire('k', opener);
    log.lost[0]!(new Error('port unplugged'));
    expect(a.lost.aborted && b.lost.aborted).toBe(true);
    expect(a.lost.reason).toBeInstanceOf(DeviceUnavailable);
    await expect(b.exclusive(async () => 1)).rejects.toBeInstanceOf(DeviceUnavailable);
    expect(log.closes).toBe(1);
    const c = await pool.acquire('k', opener);
    expect(log.opens).toBe(2);
    expect(await c.exclusive(async (h) => h.n)).toBe(2);
    await Promise.all([a.release(), b.release(), c.release()]);
  });

  it('serialises requests from every holder: one at a time, in order', async () => {
    const pool = new ConnectionPool();
    const { opener } = counting();
    const leases = await Promise.all([1, 2, 3].map(() => pool.acquire('k', opener)));
    let running = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        leases[i % 3]!.exclusive(async () => {
          running++;
          most = Math.max(most, running);
          await new Promise((resolve) => setImmediate(resolve));
          order.push(i);
          running--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(order).toEqual([...Array(12).keys()]);
    await Promise.all(leases.map((l) => l.release()));
  });
});

describe('SerialQueue', () => {
  it('never starts work whose caller gave up while it waited', async () => {
    const queue = new SerialQueue();
    let release!: () => void;
    const first = queue.run(() => new Promise<void>((resolve) => (release = resolve)));
    const controller = new AbortController();
    let started = false;
    const second = queue.run(async () => {
      started = true;
    }, controller.signal);
    controller.abort(new Error('gave up'));
    await expect(second).rejects.toThrow('gave up');
    const third = queue.run(async () => 3);
    release();
    await first;
    expect(await third).toBe(3);
    expect(started).toBe(false);
    expect(queue.length).toBe(0);
  });

  it('with holdUntilSettled, keeps the turn until abandoned work settles (a late answer on a line)', async () => {
    const queue = new SerialQueue({ holdUntilSettled: true });
    let settle!: () => void;
    let began!: () => void;
    const sent = new Promise<void>((resolve) => (began = resolve));
    const controller = new AbortController();
    const slow = queue.run(() => {
      began();
      return new Promise<void>((resolve) => (settle = resolve));
    }, controller.signal);
    const events: string[] = [];
    const next = queue.run(async () => {
      events.push('next started');
    });
    await sent;
    controller.abort(new Error('deadline'));
    await expect(slow).rejects.toThrow('deadline');
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual([]);
    settle();
    await next;
    expect(events).toEqual(['next started']);
  });
});
