import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../sdk/index.js';
import { EventStreams } from './http-events.js';
import type { DeviceView } from './http-schemas.js';
import type { TwinEvent } from './twin-module.js';

/** EventStreams over in-memory sinks: what a client reads, in order, and how a slow one is bounded. */

/** A sink that keeps what it is given; `hold` leaves every write unfinished, as a client that never reads. */
class Sink extends Writable {
  text = '';
  constructor(private readonly hold = false) {
    super();
  }
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    if (!this.hold) done();
  }
  /** The events received so far: [event name, parsed data]. */
  events(): [string, unknown][] {
    return [...this.text.matchAll(/^event: (\w+)\ndata: (.*)$/gm)].map((m) => [m[1]!, JSON.parse(m[2]!)]);
  }
  /** Resolves once `test` holds for what was received (checked on every write). */
  until(test: (sink: Sink) => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!test(this)) return;
        this.off('written', check);
        resolve();
      };
      this.on('written', check);
      check();
    });
  }
  override write(chunk: unknown, ...rest: never[]): boolean {
    const ok = super.write(chunk as string, ...rest);
    this.emit('written');
    return ok;
  }
}

const device = (id: string, state = 'online'): DeviceView => ({
  id,
  namespace: id.split('/')[0]!,
  name: id.split('/')[1]!,
  model: 'm',
  protocol: 'modbus',
  state,
  lastOnlineTime: '',
  twins: {},
  delta: {},
  properties: {},
});

/** The streams over two devices, with the twin module's side played by `emit`. */
function setUp(options: { maxBuffered?: number; heartbeatMs?: number; maxClients?: number } = {}) {
  const listeners = new Set<(event: TwinEvent) => void>();
  const warnings: string[] = [];
  const log: Logger = {
    debug() {},
    info() {},
    warn: (_obj: unknown, msg?: string) => void warnings.push(msg ?? ''),
    error() {},
    child: () => log,
  };
  const ids = ['ns/a', 'ns/b'];
  const streams = new EventStreams(
    {
      listen: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
    { device: (id) => (ids.includes(id) ? device(id) : undefined) },
    () => ids,
    log,
    { maxClients: 2, ...options },
  );
  const emit = (event: TwinEvent) => {
    for (const listener of listeners) listener(event);
  };
  const twinEvent = (id: string, value: string): TwinEvent => ({
    kind: 'twin',
    id,
    changed: { t: { actual: { value, metadata: { timestamp: 1 } }, actual_version: { cloud: 0, edge: 1 } } },
    twins: {},
    delta: { t: '9' },
  });
  return { streams, listeners, warnings, emit, twinEvent };
}

describe('EventStreams', () => {
  it('sends hello, then twin and state changes, filtered by device, a repeated state once', () => {
    const { streams, emit, twinEvent } = setUp();
    const all = new Sink();
    const onlyB = new Sink();
    streams.open(all, undefined);
    streams.open(onlyB, 'ns/b');
    emit(twinEvent('ns/a', '1'));
    emit({ kind: 'state', id: 'ns/b', state: 'online', lastOnlineTime: 'x' }); // as in hello: no change
    emit({ kind: 'state', id: 'ns/b', state: 'offline', lastOnlineTime: 'x' });
    emit({ kind: 'state', id: 'ns/b', state: 'offline', lastOnlineTime: 'x' });
    emit(twinEvent('ns/b', '2'));
    expect(all.text.startsWith('retry: 2000\n\nevent: hello\n')).toBe(true);
    expect(all.events()).toEqual([
      ['hello', { devices: [device('ns/a'), device('ns/b')] }],
      [
        'twin',
        {
          id: 'ns/a',
          twins: {
            t: { optional: false, desired: null, reported: { value: '1', timestamp: 1, version: '0.1' } },
          },
          delta: { t: '9' },
        },
      ],
      ['state', { id: 'ns/b', state: 'offline', lastOnlineTime: 'x' }],
      ['twin', expect.objectContaining({ id: 'ns/b' })],
    ]);
    expect(onlyB.events().map(([name, data]) => [name, (data as { id?: string }).id])).toEqual([
      ['hello', undefined],
      ['state', 'ns/b'],
      ['twin', 'ns/b'],
    ]);
    expect((onlyB.events()[0]![1] as { devices: DeviceView[] }).devices).toEqual([device('ns/b')]);
  });

  it('answers 503 past maxClients, and listens to the twin module only while a stream is open', () => {
    const { streams, listeners } = setUp({ maxClients: 1 });
    expect(listeners.size).toBe(0);
    const sink = new Sink();
    streams.open(sink, undefined);
    expect(listeners.size).toBe(1);
    expect(() => streams.open(new Sink(), undefined)).toThrow(/at most 1/);
    sink.destroy();
    return new Promise<void>((resolve) =>
      sink.once('close', () => {
        expect(streams.size).toBe(0);
        expect(listeners.size).toBe(0);
        resolve();
      }),
    );
  });

  it('drops a client that leaves more than maxBuffered unread, and keeps serving the others', () => {
    const { streams, emit, twinEvent, warnings } = setUp({ maxBuffered: 4096 });
    const slow = new Sink(true);
    const fast = new Sink();
    streams.open(slow, undefined);
    streams.open(fast, undefined);
    for (let i = 0; i < 100 && !slow.destroyed; i++) emit(twinEvent('ns/a', String(i)));
    expect(slow.destroyed).toBe(true);
    expect(slow.writableLength).toBeLessThan(4096 + 2 * 400);
    expect(warnings).toEqual([expect.stringContaining('too slow')]);
    expect(streams.size).toBe(1);
    emit(twinEvent('ns/a', 'after'));
    expect(fast.events().at(-1)).toEqual(['twin', expect.objectContaining({ id: 'ns/a' })]);
  });

  it('sends a comment line to idle streams every heartbeatMs, and ends every stream on closeAll', async () => {
    const { streams, listeners } = setUp({ heartbeatMs: 10 });
    const sink = new Sink();
    streams.open(sink, undefined);
    await sink.until((s) => s.text.includes('\n: ping\n\n'));
    const ended = new Promise((resolve) => sink.once('finish', resolve));
    streams.closeAll();
    await ended;
    expect(streams.size).toBe(0);
    expect(listeners.size).toBe(0);
  });
});
