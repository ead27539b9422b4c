import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Logger, silentLogger } from '../sdk/logger.js';
import { EventStreams, type EventStreamsOptions } from './dashboard-api-events.js';

/**
 * The dashboard's event streams over real loopback HTTP: a reader that does not read fills the socket, after
 * which events wait coalesced per device, and past the bound the reader is dropped.
 */

let server: Server | undefined;
let streams: EventStreams | undefined;

afterEach(async () => {
  streams?.closeAll();
  server?.closeAllConnections();
  if (server) await new Promise((resolve) => server!.close(resolve));
  server = streams = undefined;
});

/** Streams on a port-0 server; resolves once a client is connected (its response paused: it reads nothing). */
async function connect(options: Partial<EventStreamsOptions> = {}) {
  const warnings: unknown[] = [];
  const log: Logger = { ...silentLogger, warn: (obj) => warnings.push(obj), child: () => log };
  const s = new EventStreams({ log, maxClients: 4, maxPending: 16, heartbeatMs: 60_000, ...options });
  streams = s;
  const opened = new Promise<void>((resolve) => {
    server = createServer((_request, response) => {
      s.open(response, undefined, () => ({ devices: [] }));
      resolve();
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const { port } = server!.address() as AddressInfo;
  const request = get({ host: '127.0.0.1', port, path: '/' });
  const [response] = (await once(request, 'response')) as [IncomingMessage];
  response.pause();
  await opened;
  return { streams: s, response, warnings };
}

/** Everything the paused response holds or gets until it ends (or `until` is in the text). */
async function readAll(response: IncomingMessage, until?: string): Promise<string> {
  let text = '';
  response.setEncoding('utf8');
  for await (const chunk of response) {
    text += chunk;
    if (until && text.includes(until)) break;
  }
  return text;
}

describe('dashboard event streams', () => {
  it('starts with hello, and keeps only the newest event per device while the reader lags', async () => {
    const { streams, response } = await connect({ maxPending: 1000 });
    const big = 'x'.repeat(16 * 1024);
    // Fill the socket with events of many devices, then send one device's value over and over.
    for (let i = 0; streams.waiting === 0 && i < 100_000; i++)
      streams.broadcast('twin', `default/d${i}`, { big });
    expect(streams.waiting).toBe(1);
    for (let v = 0; v < 500; v++) streams.broadcast('twin', 'default/t1', { v });
    expect(streams.waiting).toBe(2);
    streams.broadcast('twin', 'default/end', { end: true });
    const text = await readAll(response, '"end":true');
    expect(text.startsWith('retry: 2000\n\nevent: hello\ndata: {"devices":[]}\n\n')).toBe(true);
    // The socket was full: of t1's 500 values only the newest waited, and went out.
    const t1 = [...text.matchAll(/data: \{"v":(\d+)\}/g)].map((m) => Number(m[1]));
    expect(t1).toEqual([499]);
    expect(streams.dropped).toBe(0);
  });

  it('drops a reader that lets more than maxPending devices wait, and says so', async () => {
    const { streams, response, warnings } = await connect({ maxPending: 16 });
    const big = 'x'.repeat(16 * 1024);
    for (let i = 0; streams.size === 1 && i < 100_000; i++)
      streams.broadcast('twin', `default/d${i}`, { big });
    expect(streams.size).toBe(0);
    expect(streams.dropped).toBe(1);
    expect(warnings).toEqual([{ pending: 17, maxPending: 16 }]);
    // The client sees its stream cut (its EventSource would reconnect).
    const cut = new Promise<string>((resolve) => response.once('error', (error) => resolve(error.message)));
    response.resume();
    expect(await cut).toBe('aborted');
  });

  it('refuses a stream past maxClients, and ends every stream on closeAll', async () => {
    const { streams, response } = await connect({ maxClients: 1 });
    const refused = streams.open(
      new (await import('node:http')).ServerResponse({ method: 'GET' } as IncomingMessage),
      undefined,
      () => ({ devices: [] }),
    );
    expect(refused).toBe(false);
    streams.closeAll();
    response.resume();
    await once(response, 'end');
    expect(streams.size).toBe(0);
  });
});
