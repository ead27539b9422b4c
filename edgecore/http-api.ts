import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type MsgTwin, twinReason } from '../device-models/internal.js';
import { rateLimitedLogger } from '../sdk/log-limit.js';
import { computeDelta } from '../twin/rules.js';
import { httpSettings } from './config.js';
import type { EdgeContext } from './context.js';
import { HostCheck, HttpError, pathSegments } from './http-guard.js';
import { boundServer, serverTimeouts } from './http-limits.js';
import type { TwinModule } from './twin-module.js';

const MAX_BODY = 64 * 1024;

export interface HttpApi {
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A twin as the HTTP API shows it: desired and reported side by side, with their versions, and the reason the
 * device gave for what it holds (when it gave one). `type` is KubeEdge's, `modelType` the model's where finer.
 */
function view(twin: MsgTwin) {
  const version = (v: MsgTwin['expected_version']) => (v ? `${v.cloud ?? 0}.${v.edge ?? 0}` : undefined);
  const reason = twinReason(twin.actual?.metadata?.reason);
  const modelType = twin.metadata?.modelType;
  return {
    type: twin.metadata?.type,
    ...(modelType ? { modelType } : {}),
    optional: twin.optional ?? false,
    desired: twin.expected
      ? {
          value: twin.expected.value,
          timestamp: twin.expected.metadata?.timestamp,
          version: version(twin.expected_version),
        }
      : null,
    reported: twin.actual
      ? {
          value: twin.actual.value,
          timestamp: twin.actual.metadata?.timestamp,
          version: version(twin.actual_version),
          ...(reason ? { reason } : {}),
        }
      : null,
  };
}

/**
 * `If-Match: "1.4"` (cloud.edge of the desired value it was based on, as GET shows it): the PUT applies only if
 * the desired value is still at that version, else 409. The HTTP side of the twin's opt-in
 * `if_expected_version`; without the header a PUT applies whatever the version, as an MQTT update does.
 */
function parseIfMatch(header: string | undefined): { cloud: number; edge: number } | undefined {
  if (!header) return undefined;
  const match = header
    .trim()
    .replace(/^W\//, '')
    .replace(/"/g, '')
    .match(/^(\d+)\.(\d+)$/);
  if (!match) throw new HttpError(400, `If-Match must be a version such as "0.3" (got ${header})`);
  return { cloud: Number(match[1]), edge: Number(match[2]) };
}

async function body(request: IncomingMessage): Promise<string> {
  if (Number(request.headers['content-length'] ?? 0) > MAX_BODY)
    throw new HttpError(413, `body larger than ${MAX_BODY} bytes`);
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `body larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The desired value from a JSON body `{"value": "23.5"}` (a JSON number or boolean is taken as its text), or plain text. */
function desiredValue(text: string, contentType: string | undefined): string {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  if (type && !type.includes('json') && !type.startsWith('text/'))
    throw new HttpError(415, `content-type ${type} is not taken: send application/json or text/plain`);
  if (!type?.includes('json')) return text.trim();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  const value = (parsed as { value?: unknown } | null)?.value;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new HttpError(400, 'body must be {"value": "<desired value>"}');
}

/**
 * The edge HTTP API: devices and their twins, desired values set at the edge (conditional with If-Match),
 * health and Prometheus metrics.
 */
export async function startHttpApi(ctx: EdgeContext, twin: TwinModule): Promise<HttpApi> {
  const deviceSummary = (id: string) => {
    const device = ctx.devices.get(id)!;
    const row = ctx.store.device(id);
    return {
      id,
      namespace: device.namespace,
      name: device.name,
      model: device.model.metadata.name,
      protocol: device.protocol,
      state: row?.state || 'unknown',
      lastOnlineTime: row?.lastOnline ?? '',
    };
  };
  const deviceView = (id: string) => {
    const twins = twin.twins(id) ?? {};
    const delta = computeDelta(twins);
    return {
      ...deviceSummary(id),
      twins: Object.fromEntries(Object.entries(twins).map(([name, t]) => [name, view(t)])),
      delta,
    };
  };

  const http = httpSettings(ctx.config.http);
  const log = rateLimitedLogger(ctx.log);
  let port = 0;
  const hosts = new HostCheck(http.host, http.allowedHosts, () => port);

  const routes = async (request: IncomingMessage, response: ServerResponse) => {
    hosts.check(request);
    const { path, segments: parts } = pathSegments(request.url);
    const send = (status: number, payload: unknown, type = 'application/json') => {
      response.writeHead(status, { 'content-type': type });
      response.end(type === 'application/json' ? `${JSON.stringify(payload)}\n` : String(payload));
    };
    if (request.method === 'GET' && path === '/healthz') {
      // The cloud link is reported, not required: with the cloud away the edge keeps working (autonomy).
      // The store is required: an edge that cannot store a twin acknowledges nothing.
      const store = ctx.store.health;
      const problem = !ctx.bus.connected
        ? 'eventbus disconnected'
        : store.writable
          ? undefined
          : `twin store cannot write: ${store.error?.message ?? 'unknown'}`;
      return send(problem ? 503 : 200, {
        status: problem ?? 'ok',
        ...(problem ? { reason: problem } : {}),
        store: store.writable ? 'ok' : { writable: false, ...store.error },
        cloud: ctx.cloud ? (ctx.cloud.connected ? 'connected' : 'disconnected') : 'not joined',
      });
    }
    if (request.method === 'GET' && path === '/metrics') {
      ctx.metrics.outboxDepth.set(ctx.store.outboxDepth());
      return send(200, await ctx.metrics.registry.metrics(), ctx.metrics.registry.contentType);
    }
    if (parts[0] !== 'api' || parts[1] !== 'v1' || parts[2] !== 'devices')
      throw new HttpError(404, 'not found');
    if (parts.length === 3 && request.method === 'GET')
      return send(200, [...ctx.devices.keys()].map(deviceSummary));
    const id = `${parts[3]}/${parts[4]}`;
    if (!ctx.devices.has(id)) throw new HttpError(404, `no device ${id}`);
    if (parts.length === 5 && request.method === 'GET') return send(200, deviceView(id));
    if (parts.length === 8 && parts[5] === 'twins' && parts[7] === 'desired') {
      if (request.method !== 'PUT') throw new HttpError(405, 'use PUT');
      const property = parts[6]!;
      const basedOn = parseIfMatch(request.headers['if-match']);
      const value = desiredValue(await body(request), request.headers['content-type']);
      const outcome = await twin.setDesired(id, property, value, basedOn);
      if (!outcome.ok) throw new HttpError(outcome.code, outcome.reason);
      const current = twin.twins(id)?.[property];
      return send(200, { id, property, ...(current ? view(current) : {}) });
    }
    throw new HttpError(404, 'not found');
  };

  const server: Server = createServer(serverTimeouts(http), (request, response) => {
    routes(request, response).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      const details = error instanceof HttpError ? error.details : {};
      if (status === 500) log.error({ err: (error as Error).message, url: request.url }, 'http api error');
      else if (status === 421)
        log.warn({ host: request.headers.host }, 'http request refused: Host not allowed');
      if (!response.headersSent) response.writeHead(status, { 'content-type': 'application/json' });
      response.end(`${JSON.stringify({ code: status, reason: (error as Error).message, ...details })}\n`);
    });
  });
  boundServer(server, http, log);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(http.port, http.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const urlHost = http.host.includes(':') ? `[${http.host}]` : http.host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        log.close();
      }),
  };
}
