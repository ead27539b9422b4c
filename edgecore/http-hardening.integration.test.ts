import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LogLine, recordingLogger } from '../sdk/testing/recording-logger.js';
import { type ThermostatDir, thermostatDir } from '../test/support/thermostat-dir.js';
import { edgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';

/** The HTTP API against slow and excess clients, bad paths, foreign Hosts and a store that cannot write. */

const ID = 'default/thermostat-01';

/** Resolves when the socket is closed; rejects if it is still open after `ms` (a bound, not a sleep). */
function closed(socket: Socket, ms: number): Promise<void> {
  if (socket.destroyed && socket.closed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A raw connection; `received` holds what the server sent. */
async function open(port: number): Promise<Socket & { received: string }> {
  const socket = connect(port, '127.0.0.1') as Socket & { received: string };
  socket.received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    socket.received += chunk;
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** Sends one complete keep-alive request on `socket` and resolves with the response head once it has come. */
function exchange(socket: Socket & { received: string }, path: string): Promise<string> {
  const before = socket.received.length;
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
  return new Promise((resolve, reject) => {
    const onData = () => {
      const text = socket.received.slice(before);
      if (!text.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(text);
    };
    const onClose = () => reject(new Error(`closed before an answer: ${socket.received.slice(before)}`));
    socket.on('data', onData);
    socket.once('close', onClose);
  });
}

/** A GET with headers fetch() does not let one set (Host). */
function get(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(text || '{}') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('edgecore HTTP API hardening', () => {
  let dir: string;
  let edge: EdgeCore | undefined;
  let lines: LogLine[];
  const sockets: Socket[] = [];

  let fixture: ThermostatDir;

  beforeAll(async () => {
    fixture = await thermostatDir('edgecore-http-');
    ({ dir } = fixture);
  });
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await edge?.stop();
    edge = undefined;
  });
  afterAll(() => fixture.remove());

  async function startEdge(http: Record<string, unknown> = {}) {
    const recorded = recordingLogger();
    lines = recorded.lines;
    const config = edgeConfig({
      dataDir: join(dir, 'data'),
      eventBus: { internal: { port: 0 } },
      http: { port: 0, ...http },
      devices: { dirs: [dir], watch: false },
    });
    edge = new EdgeCore({ config, log: recorded.log });
    await edge.start();
    return Number(new URL(edge.httpUrl).port);
  }

  const logged = (text: string) => lines.filter((l) => l.msg.includes(text));

  it('closes a slowloris connection (one header byte at a time) at headersTimeout, with a 408, and logs it', async () => {
    const port = await startEdge({ headersTimeoutMs: 300, requestTimeoutMs: 1000 });
    const slow = await open(port);
    sockets.push(slow);
    slow.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    // Keeps the socket active, as the attack does: inactivity alone does not close it.
    const drip = setInterval(() => slow.writable && slow.write('a'), 50);
    try {
      await closed(slow, 5000);
    } finally {
      clearInterval(drip);
    }
    expect(slow.received).toMatch(/^HTTP\/1\.1 408/);
    expect(logged('http request too slow').length).toBeGreaterThan(0);
    // A silent connection (not one byte) is closed as well.
    const silent = await open(port);
    sockets.push(silent);
    await closed(silent, 5000);
    // The server still serves.
    expect((await get(port, '/healthz')).status).toBe(200);
  });

  it('refuses connections past maxConnections while serving those it holds, and logs it', async () => {
    const port = await startEdge({ maxConnections: 2 });
    const first = await open(port);
    const second = await open(port);
    sockets.push(first, second);
    // Served (so both are counted by the server), and kept alive.
    expect(await exchange(first, '/healthz')).toMatch(/^HTTP\/1\.1 200/);
    expect(await exchange(second, '/healthz')).toMatch(/^HTTP\/1\.1 200/);
    const third = await open(port);
    sockets.push(third);
    await closed(third, 5000);
    expect(third.received).toBe('');
    expect(logged('too many connections').length).toBeGreaterThan(0);
    // The held ones are still served.
    expect(await exchange(first, '/api/v1/devices')).toMatch(/^HTTP\/1\.1 200/);
    first.destroy();
    await closed(first, 5000);
  });

  it('answers bad percent-encoding with 400 naming the segment', async () => {
    const port = await startEdge();
    const bad = await get(port, '/api/v1/devices/%');
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 400, segment: '%', reason: expect.stringContaining('"%"') });
    expect((await get(port, '/api/v1/devices/default/%zz')).body).toMatchObject({
      code: 400,
      segment: '%zz',
    });
    expect((await get(port, '/api/v1/devices/default/%ff')).status).toBe(400);
    expect((await get(port, '/api/v1/devices?x=%')).status).toBe(400);
    expect((await get(port, '/api/v1/devices/default/thermostat%2D01')).status).toBe(200);
    expect(logged('http api error')).toEqual([]);
  });

  it('serves loopback, the bound address and allow-listed Hosts, and refuses others with 421', async () => {
    const port = await startEdge({ allowedHosts: ['gateway.local', 'edge.example:8443'] });
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      'localhost',
      'gateway.local:9',
      'edge.example:8443',
    ])
      expect((await get(port, '/healthz', { host })).status, host).toBe(200);
    for (const host of [
      'evil.example',
      `evil.example:${port}`,
      `localhost:${port + 1}`,
      'edge.example:8444',
    ]) {
      const refused = await get(port, '/api/v1/devices', { host });
      expect(refused.status, host).toBe(421);
      expect(refused.body).toMatchObject({ host, reason: expect.stringContaining('http.allowedHosts') });
    }
    expect(logged('Host not allowed').length).toBeGreaterThan(0);
    // HTTP/1.0 without a Host: no browser sends it, so it is served.
    const old = await open(port);
    sockets.push(old);
    old.write('GET /healthz HTTP/1.0\r\n\r\n');
    await closed(old, 5000);
    expect(old.received).toMatch(/^HTTP\/1\.1 200/);
  });

  it('turns /healthz 503 with the reason while the twin store cannot commit, and 200 after a commit succeeds', async () => {
    const port = await startEdge();
    const put = (value: string) =>
      fetch(`http://127.0.0.1:${port}/api/v1/devices/${ID}/twins/setpoint/desired`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value }),
      });
    expect((await put('21')).status).toBe(200);
    // Another connection to the same database file makes every twin row write fail, as a real SQLite
    // error inside the store's commit (no part of edgetwin is replaced).
    const other = new Database(join(dir, 'data', 'edgetwin.db'));
    try {
      other.exec(`
        CREATE TRIGGER refuse_insert BEFORE INSERT ON device_twin BEGIN SELECT RAISE(ABORT, 'disk says no'); END;
        CREATE TRIGGER refuse_update BEFORE UPDATE ON device_twin BEGIN SELECT RAISE(ABORT, 'disk says no'); END;`);
      expect((await put('22')).status).toBe(503);
      const sick = await get(port, '/healthz');
      expect(sick.status).toBe(503);
      expect(sick.body).toMatchObject({
        reason: expect.stringContaining('twin store cannot write: disk says no'),
        store: { writable: false, code: expect.stringMatching(/^SQLITE_CONSTRAINT/), at: expect.any(String) },
      });
      other.exec('DROP TRIGGER refuse_insert; DROP TRIGGER refuse_update;');
      // Still unhealthy until a commit succeeds.
      expect((await get(port, '/healthz')).status).toBe(503);
      expect((await put('23')).status).toBe(200);
      const well = await get(port, '/healthz');
      expect(well.status).toBe(200);
      expect(well.body).toMatchObject({ status: 'ok', store: 'ok' });
    } finally {
      other.close();
    }
  });

  it('keeps answering bad bodies: 400 bad JSON, 415 other content types, 413 too large', async () => {
    const port = await startEdge();
    const put = (body: string, type: string) =>
      fetch(`http://127.0.0.1:${port}/api/v1/devices/${ID}/twins/setpoint/desired`, {
        method: 'PUT',
        headers: { 'content-type': type },
        body,
      });
    expect((await put('{not json', 'application/json')).status).toBe(400);
    expect((await put('[1]', 'application/json')).status).toBe(400);
    expect((await put('value=22', 'application/x-www-form-urlencoded')).status).toBe(415);
    expect((await put('x'.repeat(65 * 1024), 'text/plain')).status).toBe(413);
    expect((await put('22', 'text/plain')).status).toBe(200);
  });
});
