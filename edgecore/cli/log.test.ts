import { describe, expect, it } from 'vitest';
import { createCliLogger } from './log.js';

/** The CLI logger into a buffer: each pino line kept as written. */
function buffered(options: Parameters<typeof createCliLogger>[0] & object = {}) {
  const lines: string[] = [];
  const log = createCliLogger({
    level: 'debug',
    ...options,
    destination: { write: (s: string) => void lines.push(s) },
  });
  return { log, lines, parsed: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('the CLI logger', () => {
  it('caps long strings, payloads, errors, wide and deep objects and the message, and stays valid JSON', () => {
    const { log, lines, parsed } = buffered();
    const huge = 'x'.repeat(120 * 1024);
    const error = Object.assign(new TypeError(huge), { code: 'E_BIG' });
    log.warn(
      {
        payload: huge,
        raw: Buffer.alloc(100_000, 1),
        err: error,
        wide: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i])),
        list: Array.from({ length: 5000 }, (_, i) => i),
        deep: { a: { b: { c: { d: { e: 1 } } } } },
      },
      huge,
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]!.length).toBeLessThan(16 * 1024);
    const [line] = parsed();
    expect(line!.payload).toMatch(/^x{1024}…\[\+121856 chars\]$/);
    expect(line!.msg).toMatch(/…\[\+121856 chars\]$/);
    expect(line!.raw).toMatch(/^\[100000 bytes: (01){32}…\]$/);
    expect(line!.err).toMatchObject({
      type: 'TypeError',
      code: 'E_BIG',
      message: expect.stringMatching(/chars\]$/),
    });
    expect(Object.keys(line!.wide as object)).toHaveLength(33);
    expect((line!.wide as Record<string, string>)['…']).toBe('4968 more fields');
    expect((line!.list as unknown[]).at(-1)).toBe('…[+4968 items]');
    expect(line!.deep).toEqual({ a: { b: { c: '[Object]' } } });
  });

  it('rate-limits repeated warnings and errors per message and module, summing up the rest', () => {
    let now = 0;
    const { log, lines, parsed } = buffered({ limit: { burst: 3, intervalMs: 60_000, now: () => now } });
    const twin = log.child({ module: 'edgecore:twin' });
    for (let i = 0; i < 20_000; i++)
      twin.warn({ topic: `t/${i}`, payload: 'y'.repeat(6000) }, 'malformed twin update');
    for (let i = 0; i < 10; i++) twin.info({ i }, 'not limited below warn');
    log.error({}, 'malformed twin update'); // another module: its own count
    expect(lines).toHaveLength(3 + 10 + 1);
    now = 60_000;
    twin.warn({ topic: 't/x' }, 'malformed twin update');
    const tail = parsed().slice(-2);
    expect(tail[0]).toMatchObject({
      module: 'edgecore:twin',
      suppressed: 19_997,
      msg: 'suppressed 19997 similar: malformed twin update',
    });
    expect(tail[1]).toMatchObject({ topic: 't/x', msg: 'malformed twin update' });
    expect(lines.join('').length).toBeLessThan(200 * 1024);
  });

  it('writes pending summaries on flushSuppressed', () => {
    const { log, parsed } = buffered({ limit: { burst: 1 } });
    log.error('boom');
    log.error('boom');
    log.flushSuppressed();
    expect(parsed().map((l) => l.msg)).toEqual(['boom', 'suppressed 1 similar: boom']);
  });
});
