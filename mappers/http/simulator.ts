import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ModelProperty, ResolvedDevice, ResolvedProperty } from '../../device-models/index.js';
import { type Logger, silentLogger } from '../../sdk/index.js';
import { assign, extract, lookup } from './json-pointer.js';
import type { HttpConfig, HttpVisitor } from './schema.js';

export interface HttpSimulatorOptions {
  /** 0 (default): a free port, kept across restarts; 'device': the port of the device's baseURL. */
  port?: number | 'device';
  /** Default 127.0.0.1. */
  host?: string;
  /** Seeds the waveforms of ReadOnly properties (default 0). */
  seed?: number;
  /** Headers every request must carry, e.g. `{ authorization: 'Bearer t' }`; otherwise 401. */
  requireHeaders?: Record<string, string>;
  log?: Logger;
}

export interface HttpFaults {
  /** Answer every request with 503. */
  down: boolean;
  /** Answer this many ms late. */
  delayMs: number;
}

/** A request as the simulator received it. */
export interface HttpRequestSeen {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface HttpSimulator {
  /** Starts serving (again on the same port after a stop); resolves to the config a client needs: `baseURL`. */
  start(): Promise<Pick<HttpConfig, 'baseURL'>>;
  /** Closes the server and every connection; safe to call twice. */
  stop(): Promise<void>;
  /** While true, requests get no answer at all (the client times out). */
  silent: boolean;
  faults: HttpFaults;
  /** What the device holds for a property now. */
  value(property: string): unknown;
  /** Makes the device hold `value` for a property (a ReadOnly one too: its waveform stops). */
  set(property: string, value: unknown): void;
  /** The last 100 requests, oldest first. */
  readonly requests: HttpRequestSeen[];
}

type Property = ResolvedProperty<HttpVisitor>;

/**
 * A REST device served from its YAML: every visitor's path answers a JSON document holding, at each pointer
 * read from it, the property's value — a seeded waveform within the model's bounds for ReadOnly properties,
 * the last value written for the others. Writes are taken on each visitor's write method and path, with the
 * shape its body template (or write pointer) gives, and refused with 400 when the value has the wrong type.
 * `GET /` answers an index of the paths. Unknown paths answer 404.
 */
export function createHttpSimulator(
  device: ResolvedDevice<HttpConfig, HttpVisitor>,
  options: HttpSimulatorOptions = {},
): HttpSimulator {
  const log = (options.log ?? silentLogger).child({ module: 'mapper:http:simulator', device: device.id });
  const base = new URL(device.config.baseURL);
  const prefix = base.pathname.replace(/\/+$/, '');
  const started = Date.now();
  const waves = new Map(device.properties.map((p) => [p.name, waveFor(p.model, options.seed ?? 0)]));
  const written = new Map<string, unknown>();
  const requests: HttpRequestSeen[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let server: Server | undefined;
  let port = options.port === 'device' ? Number(base.port || (base.protocol === 'https:' ? 443 : 80)) : 0;
  let stopping: Promise<void> | undefined;

  /** A written value; else a ReadOnly property's waveform now, a writable one's first value. */
  const holds = (p: Property) => {
    if (written.has(p.name)) return written.get(p.name);
    return waves.get(p.name)!(p.model.accessMode === 'ReadOnly' ? Date.now() - started : 0);
  };
  const readsOf = (method: string, path: string) =>
    device.properties.filter(
      (p) => (p.visitor.method ?? 'GET') === method && pathOf(p.visitor.path) === path,
    );
  const writesOf = (method: string, path: string) =>
    device.properties.filter(
      (p) =>
        p.model.accessMode !== 'ReadOnly' &&
        (p.visitor.writeMethod ?? 'PUT') === method &&
        pathOf(p.visitor.writePath ?? p.visitor.path) === path,
    );

  const answer = (method: string, path: string, body: string): [number, unknown] => {
    const writes = writesOf(method, path);
    if (writes.length > 0) return write(writes, body);
    const reads = readsOf(method, path);
    if (reads.length > 0)
      return [200, reads.reduce<unknown>((doc, p) => assign(doc, p.visitor.pointer ?? '', holds(p)), {})];
    if (method === 'GET' && path === '/')
      return [
        200,
        { device: device.name, paths: [...new Set(device.properties.map((p) => pathOf(p.visitor.path)))] },
      ];
    const known = device.properties.some((p) =>
      [p.visitor.path, p.visitor.writePath ?? p.visitor.path].map(pathOf).includes(path),
    );
    return known
      ? [405, { error: `${method} not allowed on ${path}` }]
      : [404, { error: `no resource ${path}` }];
  };

  const write = (writes: Property[], text: string): [number, unknown] => {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return [400, { error: 'the body is not JSON' }];
    }
    let taken = 0;
    for (const p of writes) {
      const { body: template, writePointer, pointer } = p.visitor;
      const found =
        template === undefined ? lookup(body, writePointer ?? pointer ?? '') : extract(template, body);
      if (!found.found) continue;
      const problem = typeProblem(p.model, found.value);
      if (problem) return [400, { error: `${p.name}: ${problem}` }];
      written.set(p.name, found.value);
      taken += 1;
    }
    return taken > 0 ? [200, { ok: true }] : [400, { error: 'the body matches no property written here' }];
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://simulator');
      const path = pathOf(url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : url.pathname);
      const seen = {
        method: req.method ?? 'GET',
        path: path + url.search,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(seen);
      if (requests.length > 100) requests.shift();
      if (simulator.silent) return; // never answered: the client times out
      const respond = () => {
        const [status, json] = simulator.faults.down
          ? [503, { error: 'the device is down' }]
          : unauthorized(req, options.requireHeaders)
            ? [401, { error: 'unauthorized' }]
            : answer(seen.method, seen.path, seen.body);
        if (status >= 400) log.debug({ status, path: seen.path }, 'simulator refused a request');
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      };
      if (simulator.faults.delayMs <= 0) return respond();
      const timer = setTimeout(() => {
        timers.delete(timer);
        respond();
      }, simulator.faults.delayMs);
      timers.add(timer);
    });
  };

  const simulator: HttpSimulator = {
    silent: false,
    faults: { down: false, delayMs: 0 },
    requests,
    set: (name, value) => written.set(name, value),
    value: (name) => {
      const p = device.properties.find((q) => q.name === name);
      return p ? holds(p) : undefined;
    },
    async start() {
      const host = options.host ?? '127.0.0.1';
      const reached = () => ({
        baseURL: `http://${host.includes(':') ? `[${host}]` : host}:${port}${prefix}`,
      });
      if (server) return reached();
      stopping = undefined;
      const opened = createServer(onRequest);
      await new Promise<void>((resolve, reject) => {
        opened.once('error', reject);
        opened.listen(port, host, () => resolve());
      });
      server = opened;
      port = (opened.address() as AddressInfo).port;
      return reached();
    },
    stop() {
      stopping ??= (async () => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        const s = server;
        server = undefined;
        if (!s) return;
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      })();
      return stopping;
    },
  };
  return simulator;
}

/** A visitor path as the simulator compares it: with one leading slash. */
function pathOf(path: string | undefined): string {
  return `/${(path ?? '').replace(/^\/+/, '')}`;
}

function unauthorized(req: IncomingMessage, required: Record<string, string> | undefined): boolean {
  return Object.entries(required ?? {}).some(([name, value]) => req.headers[name.toLowerCase()] !== value);
}

/** Why a JSON value cannot be the property's value; undefined when it can. */
function typeProblem(property: ModelProperty, value: unknown): string | undefined {
  const numeric = ['INT', 'FLOAT', 'DOUBLE'].includes(property.type);
  const expected = numeric ? 'number' : property.type === 'BOOLEAN' ? 'boolean' : 'string';
  if (typeof value !== expected) return `${JSON.stringify(value)} is not a ${property.type}`;
  if (property.type === 'INT' && !Number.isInteger(value)) return `${value} is not an INT`;
  return undefined;
}

/** A seeded signal for a property: a sine within its bounds (default 0–100), a square wave for a BOOLEAN. */
function waveFor(property: ModelProperty, seed: number): (elapsedMs: number) => number | boolean | string {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (const c of property.name) hash = Math.imul(hash ^ c.charCodeAt(0), 0x01000193) >>> 0;
  const periodMs = 10_000 + (hash % 50_000);
  const phase = (hash >>> 16) / 0x10000;
  if (property.type === 'BOOLEAN') return (t) => (t / periodMs + phase) % 1 < 0.5;
  if (!['INT', 'FLOAT', 'DOUBLE'].includes(property.type)) return () => 'edgetwin';
  const lo = property.minimum === undefined ? undefined : Number(property.minimum);
  const hi = property.maximum === undefined ? undefined : Number(property.maximum);
  const min = lo ?? (hi === undefined ? 0 : hi - 100);
  const max = hi ?? min + 100;
  const wave = (t: number) =>
    (min + max) / 2 + ((max - min) / 2) * 0.8 * Math.sin(2 * Math.PI * (t / periodMs + phase));
  return property.type === 'INT' ? (t) => Math.round(wave(t)) : (t) => Math.round(wave(t) * 100) / 100;
}
