import { afterEach, describe, expect, it, vi } from 'vitest';
import { LogLimiter, rateLimitedLogger } from './log-limit.js';
import { recordingLogger } from './testing/recording-logger.js';

describe('LogLimiter', () => {
  it('lets `burst` lines of a key through per interval, then sums up the rest once the interval is over', () => {
    let now = 0;
    const limiter = new LogLimiter<string>({ burst: 2, intervalMs: 1000, now: () => now });
    const taken = Array.from({ length: 5 }, () => limiter.take('a', 'x').write);
    expect(taken).toEqual([true, true, false, false, false]);
    expect(limiter.take('b', 'y').write).toBe(true);
    expect(limiter.drain()).toEqual([]);
    now = 1000;
    const next = limiter.take('a', 'z');
    expect(next).toEqual({ write: true, summaries: [{ key: 'a', suppressed: 3, since: 0, data: 'x' }] });
    expect(limiter.drain()).toEqual([]); // b ended without suppressing anything
    expect(limiter.suppressing).toBe(false);
  });

  it('keeps at most maxKeys keys, handing out the summary of the one it drops', () => {
    const limiter = new LogLimiter<number>({ burst: 0, maxKeys: 2, now: () => 0 });
    limiter.take('a', 1);
    limiter.take('b', 2);
    expect(limiter.take('c', 3).summaries).toEqual([{ key: 'a', suppressed: 1, since: 0, data: 1 }]);
    expect(limiter.drain(true).map((s) => s.key)).toEqual(['b', 'c']);
  });
});

describe('rateLimitedLogger', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes 20,000 repeats of one error as `burst` lines and one summary; other messages pass', () => {
    const { log, lines } = recordingLogger();
    const limited = rateLimitedLogger(log, { burst: 3 });
    for (let i = 0; i < 20_000; i++) limited.error({ device: `d${i}` }, 'bad twin update');
    limited.warn('another thing');
    limited.child({ module: 'x' }).error({}, 'bad twin update'); // another scope: its own count
    expect(lines).toHaveLength(5);
    limited.close();
    expect(lines).toHaveLength(6);
    expect(lines[5]).toMatchObject({
      level: 'error',
      obj: { suppressed: 19_997 },
      msg: 'suppressed 19997 similar: bad twin update',
    });
  });

  it('writes the summary when the interval ends, with no further line needed, and then stops its timer', () => {
    vi.useFakeTimers();
    const { log, lines } = recordingLogger();
    const limited = rateLimitedLogger(log, { burst: 1, intervalMs: 1000 });
    limited.warn({}, 'flood');
    limited.warn({}, 'flood');
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(lines.map((l) => l.msg)).toEqual(['flood', 'suppressed 1 similar: flood']);
    vi.advanceTimersByTime(1000);
    expect(vi.getTimerCount()).toBe(0);
    limited.close();
    limited.warn({}, 'flood');
    limited.warn({}, 'flood');
    expect(vi.getTimerCount()).toBe(0);
  });
});
