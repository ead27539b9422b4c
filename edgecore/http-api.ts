import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type MsgTwin, twinReason } from '../device-models/index.js';
import { computeDelta } from '../twin/rules.js';
import type { EdgeContext } from './context.js';
import type { TwinModule } from './twin-module.js';

const MAX_BODY = 64 * 1024;

export interface HttpApi {
  url: string;
  port: number;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
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
  if (!contentType?.includes('json')) return text.trim();
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

  const routes = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://edge');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const send = (status: number, payload: unknown, type = 'application/json') => {
      response.writeHead(status, { 'content-type': type });
      response.end(type === 'application/json' ? `${JSON.stringify(payload)}\n` : String(payload));
    };
    if (request.method === 'GET' && url.pathname === '/healthz')
      // The cloud link is reported, not required: with the cloud away the edge keeps working (autonomy).
      return send(ctx.bus.connected ? 200 : 503, {
        status: ctx.bus.connected ? 'ok' : 'eventbus disconnected',
        cloud: ctx.cloud ? (ctx.cloud.connected ? 'connected' : 'disconnected') : 'not joined',
      });
    if (request.method === 'GET' && url.pathname === '/metrics') {
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

  const server: Server = createServer((request, response) => {
    routes(request, response).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      if (status === 500)
        ctx.log.error({ err: (error as Error).message, url: request.url }, 'http api error');
      if (!response.headersSent) response.writeHead(status, { 'content-type': 'application/json' });
      response.end(`${JSON.stringify({ code: status, reason: (error as Error).message })}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(ctx.config.http.port, ctx.config.http.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${ctx.config.http.host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
