import { type IncomingMessage, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type TopicWatcher, watchTopics } from '../sdk/testing/index.js';
import { type LogLine, recordingLogger } from '../sdk/testing/recording-logger.js';
import { type ThermostatDir, thermostatDir } from '../test/support/thermostat-dir.js';
import { TwinStore } from '../twin/store.js';
import { edgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';

/**
 * The edge HTTP API as a client sees it: its OpenAPI document (checked against what the routes answer), live
 * events over SSE, twin history, and errors that name the field. A real edgecore, its broker taking anonymous
 * clients so that the test plays the mapper (no mapper runs: every reported value and state is the test's).
 */

const ID = 'default/thermostat-01';
const DEVICE = `/api/v1/devices/${ID}`;
const topic = (suffix: string) => `$hw/events/device/${ID}/${suffix}`;
/** Whether this build's TwinStore keeps history (another part of the work adds it). */
const HAS_HISTORY = typeof (TwinStore.prototype as { history?: unknown }).history === 'function';

interface ServerEvent {
  event: string;
  data: Record<string, unknown>;
}

/** An SSE client on node:http: waits for the event a test expects, and for the stream's end. */
function openEvents(url: string) {
  const seen: ServerEvent[] = [];
  let waiting: { match: (e: ServerEvent) => boolean; resolve: (e: ServerEvent) => void }[] = [];
  let buffer = '';
  let response: IncomingMessage | undefined;
  const req = request(url, { agent: false });
  const ended = new Promise<void>((resolve) => req.once('close', resolve));
  const head = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      response = res;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event === undefined || data === undefined) continue;
          const parsed = { event, data: JSON.parse(data) as Record<string, unknown> };
          seen.push(parsed);
          const matched = waiting.filter((w) => w.match(parsed));
          waiting = waiting.filter((w) => !matched.includes(w));
          for (const w of matched) w.resolve(parsed);
        }
      });
      res.on('error', () => {});
      resolve(res);
    });
  });
  req.end();
  return {
    head,
    ended,
    seen,
    next: (match: (e: ServerEvent) => boolean) =>
      new Promise<ServerEvent>((resolve) => {
        const found = seen.find(match);
        if (found) resolve(found);
        else waiting.push({ match, resolve });
      }),
    close: () => {
      response?.destroy();
      req.destroy();
    },
  };
}

/** Every `$ref` in a JSON document. */
function refs(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) refs(item, found);
  else if (node && typeof node === 'object')
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push(value);
      else refs(value, found);
    }
  return found;
}

/** The node a local JSON pointer (`#/components/schemas/Device`) names, or undefined. */
function resolvePointer(doc: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  return ref
    .slice(2)
    .split('/')
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], doc);
}

describe('edgecore HTTP API', () => {
  let fixture: ThermostatDir;
  let edge: EdgeCore | undefined;
  let watch: TopicWatcher | undefined;
  let lines: LogLine[] = [];
  const streams: ReturnType<typeof openEvents>[] = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    fixture = await thermostatDir('edgecore-http-api-');
  });
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    for (const socket of sockets.splice(0)) socket.destroy();
    await watch?.close();
    watch = undefined;
    await edge?.stop();
    edge = undefined;
  });
  afterAll(() => fixture.remove());

  /** edgecore, and an MQTT client playing the mapper that sees the results on `filter`. */
  async function startEdge(filter = '$hw/events/#', http: Record<string, unknown> = {}) {
    const recorded = recordingLogger();
    lines = recorded.lines;
    edge = new EdgeCore({
      config: edgeConfig({
        dataDir: join(fixture.dir, `data-${crypto.randomUUID().slice(0, 8)}`),
        eventBus: { internal: { port: 0, auth: 'none' } },
        http: { port: 0, ...http },
        devices: { dirs: [fixture.dir], watch: false },
        mappers: { inProcess: false },
      }),
      log: recorded.log,
    });
    await edge.start();
    watch = await watchTopics(edge.brokerUrl, filter);
    return edge;
  }
  const api = (path: string, init?: RequestInit) => fetch(`${edge!.httpUrl}${path}`, init);
  const json = async (path: string, init?: RequestInit) => {
    const response = await api(path, init);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const put = (property: string, body: string, type = 'application/json') =>
    json(`${DEVICE}/twins/${property}/desired`, { method: 'PUT', headers: { 'content-type': type }, body });
  /** Publishes as the mapper, and resolves once edgecore has answered (stored) it. */
  async function report(twin: Record<string, unknown>, eventId = crypto.randomUUID()) {
    const answered = watch!.next(
      (m) => m.topic === topic('twin/update/result') && m.payload.event_id === eventId,
    );
    await watch!.client.publishAsync(
      topic('twin/update'),
      JSON.stringify({ event_id: eventId, timestamp: Date.now(), twin }),
      { qos: 1 },
    );
    return answered;
  }
  const events = (query = '') => {
    const stream = openEvents(`${edge!.httpUrl}/api/v1/events${query}`);
    streams.push(stream);
    return stream;
  };

  it('serves an OpenAPI 3 document covering every route, whose references resolve and whose schemas the answers fit', async () => {
    await startEdge();
    const doc = (await json('/api/openapi.json')).body as {
      openapi: string;
      paths: Record<
        string,
        Record<
          string,
          {
            operationId?: string;
            parameters?: { in: string; name: string }[];
            responses: Record<string, { description?: string }>;
          }
        >
      >;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toMatch(/^3\.0\.\d+$/);
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
    );
    expect(operations.map((o) => `${o.method.toUpperCase()} ${o.path}`).sort()).toEqual(
      [
        'GET /healthz',
        'GET /metrics',
        'GET /api/v1/devices',
        'GET /api/v1/devices/{namespace}/{name}',
        'PUT /api/v1/devices/{namespace}/{name}/twins/{property}/desired',
        'GET /api/v1/devices/{namespace}/{name}/twins/{property}/history',
        'GET /api/v1/events',
      ].sort(),
    );
    const ids = operations.map((o) => o.operation.operationId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { path, operation } of operations) {
      for (const name of path.match(/(?<=\{)[^}]+(?=\})/g) ?? [])
        expect(operation.parameters, `${path} declares {${name}}`).toContainEqual(
          expect.objectContaining({ in: 'path', name, required: true }),
        );
      for (const [status, response] of Object.entries(operation.responses))
        expect(response.description, `${path} ${status}`).toEqual(expect.any(String));
    }
    const references = refs(doc);
    expect(references.length).toBeGreaterThan(10);
    for (const ref of references) expect(resolvePointer(doc, ref), ref).toBeDefined();

    // The schemas describe what the routes answer (ajv takes OpenAPI 3.0's `nullable`).
    const ajv = new Ajv({ strict: false });
    ajv.addSchema(doc, 'openapi');
    const fits = (name: string, value: unknown) => {
      const validate = ajv.getSchema(`openapi#/components/schemas/${name}`)!;
      expect(validate(value), `${name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    };
    expect((await put('setpoint', '{"value": 22.5}')).status).toBe(200);
    await report({ temperature: { actual: { value: '19.5', metadata: { reason: 'sensor warming up' } } } });
    fits('Device', (await json(DEVICE)).body);
    for (const summary of (await json('/api/v1/devices')).body as unknown as unknown[])
      fits('DeviceSummary', summary);
    fits('DesiredResult', (await put('setpoint', '23', 'text/plain')).body);
    fits('Health', (await json('/healthz')).body);
    fits('Error', (await json('/api/v1/devices/default/nosuch')).body);
    if (HAS_HISTORY) fits('History', (await json(`${DEVICE}/twins/temperature/history`)).body);
  });

  it('streams a twin change after a PUT and after a reported value, as GET shows the twin, and state changes', async () => {
    await startEdge();
    const all = events();
    const one = events(`?device=${ID}`);
    expect((await all.head).headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const hello = await all.next((e) => e.event === 'hello');
    expect(hello.data.devices).toEqual([await (await api(DEVICE)).json()]);
    await one.next((e) => e.event === 'hello');

    expect((await put('setpoint', '{"value": "24"}')).status).toBe(200);
    const desired = await all.next((e) => e.event === 'twin' && e.data.twins !== undefined);
    const view = (await json(DEVICE)).body as { twins: Record<string, unknown>; delta: unknown };
    expect(desired.data).toEqual({ id: ID, twins: { setpoint: view.twins.setpoint }, delta: view.delta });
    expect(desired.data.delta).toMatchObject({ setpoint: '24' });
    expect((await one.next((e) => e.event === 'twin')).data).toEqual(desired.data);

    await report({ setpoint: { actual: { value: '24' } }, temperature: { actual: { value: '20.5' } } });
    const reported = await all.next(
      (e) => e.event === 'twin' && (e.data.twins as Record<string, unknown>).temperature !== undefined,
    );
    const after = (await json(DEVICE)).body as { twins: Record<string, unknown>; delta: unknown };
    expect(reported.data).toEqual({
      id: ID,
      twins: { setpoint: after.twins.setpoint, temperature: after.twins.temperature },
      delta: after.delta,
    });
    expect(reported.data.delta).not.toHaveProperty('setpoint');

    for (const state of ['online', 'online', 'offline'])
      await watch!.client.publishAsync(topic('state/update'), JSON.stringify({ state }), { qos: 1 });
    await watch!.next(
      (m) =>
        m.topic === topic('state/update/result') &&
        (m.payload.device as { state?: string })?.state === 'offline',
    );
    const online = await all.next((e) => e.event === 'state');
    expect(online.data).toEqual({
      id: ID,
      state: 'online',
      lastOnlineTime: expect.stringMatching(/^\d{4}-/),
    });
    await all.next((e) => e.event === 'state' && e.data.state === 'offline');
    // A repeated state is no change.
    expect(all.seen.filter((e) => e.event === 'state').map((e) => e.data.state)).toEqual([
      'online',
      'offline',
    ]);
    expect((await json('/api/v1/events?device=default/nosuch')).status).toBe(404);
  });

  it('keeps a quiet event stream open past the idle and request timeouts that close other connections', async () => {
    await startEdge('$hw/events/#', { headersTimeoutMs: 100, requestTimeoutMs: 200, idleTimeoutMs: 100 });
    const stream = events();
    await stream.next((e) => e.event === 'hello');
    // A connection that sends no request: closed by those timeouts, which the stream has outlived then.
    const idle = connect(Number(new URL(edge!.httpUrl).port), '127.0.0.1');
    sockets.push(idle);
    idle.on('error', () => {});
    idle.resume();
    await new Promise((resolve) => idle.once('close', resolve));
    expect((await put('setpoint', '{"value": "25"}')).status).toBe(200);
    await stream.next((e) => e.event === 'twin');
  });

  it('ends open event streams when it closes, without waiting for them', async () => {
    await startEdge();
    const first = events();
    const second = events();
    await first.next((e) => e.event === 'hello');
    await second.next((e) => e.event === 'hello');
    await edge!.stop();
    edge = undefined;
    await Promise.all([first.ended, second.ended]);
  });

  it('drops an event stream client that stops reading, and serves the others', async () => {
    await startEdge(topic('twin/update/result'));
    const slow = connect(Number(new URL(edge!.httpUrl).port), '127.0.0.1');
    sockets.push(slow);
    const closed = new Promise((resolve) => slow.once('close', resolve));
    // Reads up to its hello, then nothing until resumed.
    let head = '';
    const onHead = (chunk: Buffer) => {
      head += chunk.toString();
      if (!head.includes('event: hello')) return;
      slow.pause();
      slow.off('data', onHead);
      slow.on('data', () => {});
    };
    slow.on('data', onHead);
    slow.on('error', () => {});
    slow.write('GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const other = events();
    await other.next((e) => e.event === 'hello');
    // 40 twins of 500 characters: some 25 KB an event, sent ten at a time until the slow client is dropped
    // (once the kernel's socket buffers and then maxBuffered are full).
    const big = 'x'.repeat(500);
    const dropped = () => lines.some((l) => l.msg.includes('event stream client too slow'));
    for (let i = 0; i < 300 && !dropped(); i++) {
      const batch = Array.from({ length: 10 }, (_, j) =>
        Object.fromEntries(
          Array.from({ length: 40 }, (_, k) => [`extra${k}`, { actual: { value: `${i}.${j}${big}` } }]),
        ),
      );
      await Promise.all(batch.map((twins) => report(twins)));
      watch!.clear();
    }
    expect(dropped()).toBe(true);
    slow.resume();
    await closed;
    await report({ temperature: { actual: { value: '18' } } });
    await other.next(
      (e) => e.event === 'twin' && (e.data.twins as Record<string, unknown>).temperature !== undefined,
    );
  }, 60_000);

  it('answers the history of a property, with 400 naming a bad parameter and 404 for an unknown property', async () => {
    await startEdge();
    const history = (query: string) => json(`${DEVICE}/twins/temperature/history${query}`);
    expect(await history('?limit=0')).toEqual({
      status: 400,
      body: { code: 400, reason: 'querystring/limit must be >= 1', field: 'querystring/limit' },
    });
    expect((await history('?limit=10001')).body.reason).toContain('querystring/limit');
    expect((await history('?limit=ten')).body.reason).toContain('querystring/limit');
    expect(await history('?since=yesterday')).toEqual({
      status: 400,
      body: expect.objectContaining({
        code: 400,
        field: 'querystring/since',
        reason: expect.stringContaining('since'),
      }),
    });
    expect((await json(`${DEVICE}/twins/nosuch/history`)).body).toEqual({
      code: 404,
      reason: `no property "nosuch" on device ${ID}`,
    });
    expect((await json('/api/v1/devices/default/nosuch/twins/temperature/history')).status).toBe(404);
    if (!HAS_HISTORY) expect((await history('')).status).toBe(501);
  });

  it.skipIf(!HAS_HISTORY)(
    'answers the newest `limit` reported values since `since`, oldest first',
    async () => {
      await startEdge();
      for (const value of ['1', '2', '3', '4', '5']) await report({ temperature: { actual: { value } } });
      const points = async (query: string) =>
        (
          (await json(`${DEVICE}/twins/temperature/history${query}`)).body as {
            points: { t: number; v: string }[];
          }
        ).points;
      const all = await points('');
      expect(all.map((p) => p.v)).toEqual(['1', '2', '3', '4', '5']);
      expect(all.map((p) => p.t)).toEqual([...all.map((p) => p.t)].sort((a, b) => a - b));
      expect((await points('?limit=2')).map((p) => p.v)).toEqual(['4', '5']);
      const third = all[2]!.t;
      expect((await points(`?since=${third}`)).map((p) => p.v)).toEqual(
        all.filter((p) => p.t >= third).map((p) => p.v),
      );
      expect((await points(`?since=${new Date(third).toISOString()}`)).map((p) => p.v)).toEqual(
        all.filter((p) => p.t >= third).map((p) => p.v),
      );
      expect((await json(`${DEVICE}/twins/temperature/history`)).body).toMatchObject({
        id: ID,
        property: 'temperature',
      });
    },
  );

  it('names the field a request got wrong, and answers every error as {code, reason}', async () => {
    await startEdge();
    expect(await put('setpoint', '{"value": null}')).toEqual({
      status: 400,
      body: { code: 400, reason: 'body/value must be string, number or boolean', field: 'body/value' },
    });
    expect((await put('setpoint', '{"valeu": "22"}')).body).toMatchObject({
      code: 400,
      reason: "body must have required property 'value'",
    });
    expect((await put('setpoint', '{"value": ["22"]}')).status).toBe(400);
    expect((await put('setpoint', '')).body).toMatchObject({
      code: 400,
      reason: expect.stringContaining('empty'),
    });
    expect((await put('setpoint', '22', 'application/xml')).body).toEqual({
      code: 415,
      reason: 'content-type application/xml is not taken: send application/json or text/plain',
    });
    expect((await put('setpoint', ' 22 ', 'text/plain; charset=utf-8')).body).toMatchObject({
      desired: { value: '22' },
    });
    // No body at all: no content type to go by, and no value.
    expect(await json(`${DEVICE}/twins/setpoint/desired`, { method: 'PUT' })).toEqual({
      status: 400,
      body: { code: 400, reason: expect.stringContaining('body is empty') },
    });
    expect(await json('/api/v1/nosuch')).toEqual({ status: 404, body: { code: 404, reason: 'not found' } });
    const wrongMethod = await api(`${DEVICE}/twins/setpoint/desired`, { method: 'POST' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('PUT');
    expect(await wrongMethod.json()).toEqual({ code: 405, reason: 'use PUT' });
    const dashboard = await json('/');
    expect(dashboard.status).toBe(404);
    expect(dashboard.body.reason).toMatch(/dashboard is not built/);
  });
});
