import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { KubeConfig } from '@kubernetes/client-node';
import { Type } from '@sinclair/typebox';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import type { Logger } from '../sdk/logger.js';
import { DeviceChanges } from './dashboard-api-changes.js';
import { DashboardHttpError, parseIfMatch, writeDesired } from './dashboard-api-desired.js';
import { EventStreams } from './dashboard-api-events.js';
import { hostGuard } from './dashboard-api-host.js';
import {
  DesiredBody,
  DeviceParams,
  DeviceSummary,
  DevicesQuery,
  DeviceView,
  ErrorBody,
  EventsQuery,
  TwinParams,
  TwinResult,
} from './dashboard-api-schemas.js';
import { DashboardSource } from './dashboard-api-source.js';
import { type DeviceRecord, deviceId, deviceSummary, deviceView, twinViews } from './dashboard-api-view.js';
import { discoverStatusMode } from './status-mode.js';
import { describeApiError } from './status-writer.js';

export interface DashboardApiOptions {
  kubeConfig: KubeConfig;
  log: Logger;
  /** The listener's address (loopback by default in cloudcore: edge nodes use the CloudHub's port); port 0 picks one. */
  host: string;
  port: number;
  /**
   * Where the twins and state are: the StatusWriter's discovered mode. Discovered here (preferring DeviceStatus)
   * when not given.
   */
  statusKind?: 'DeviceStatus' | 'Device';
  /** The edge nodes connected to this cloudcore now (the CloudHub's sessions); none when not given. */
  connectedNodes?: () => Iterable<string>;
  /** Host names besides the loopback ones and the bind address the API answers to (`*`: any). */
  allowedHosts?: readonly string[];
  /** The dashboard's static files; default: the built dashboard, dist/edgecore/dashboard/public/. */
  staticDir?: string;
  /** Event streams: heartbeat period (15 s), streams at once (64), events a slow stream may have waiting (1024). */
  heartbeatMs?: number;
  maxEventStreams?: number;
  maxPendingEvents?: number;
  /** How often the connected nodes are looked at, to tell streams that a node came or went (1 s). */
  nodePollMs?: number;
}

export interface DashboardApi {
  /** `http://host:port` */
  url: string;
  port: number;
  /** Ends the event streams, stops listening and watching; safe twice. */
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;
const HISTORY_AT_EDGE = "history is kept at the edge: open the node's dashboard";

/**
 * cloudcore's dashboard API: the edge HTTP API's routes and shapes (devices, a device's twins and delta,
 * desired values, Server-Sent Events), served across every node from Kubernetes — the Devices, their models and
 * the status the StatusWriter writes, kept by list/watch — with the node of each device and whether it is
 * connected, and the dashboard's static files at `/`. A desired value is a patch of the Device's spec, checked
 * as the edge checks it; the edge gets it through the DeviceController as any `kubectl patch`.
 */
export async function startDashboardApi(options: DashboardApiOptions): Promise<DashboardApi> {
  const { kubeConfig, log } = options;
  const statusKind = options.statusKind ?? (await discoverStatusMode(kubeConfig, 'DeviceStatus')).kind;
  const connected = new Set<string>();
  const isConnected = (node: string) => connected.has(node);
  const streams = new EventStreams({
    log,
    maxClients: options.maxEventStreams ?? 64,
    maxPending: options.maxPendingEvents ?? 1024,
    heartbeatMs: options.heartbeatMs ?? 15_000,
  });

  const changes = new DeviceChanges();
  /** Whether the first list is done: a device seen after it is a new one (`device` event). */
  let started = false;
  const changed = (key: string) => {
    const record = source.record(key);
    const view = record && deviceView(record, isConnected);
    for (const { event, id, data } of changes.update(key, view, started)) streams.broadcast(event, id, data);
  };
  const source = new DashboardSource({ kubeConfig, log, statusKind, changed });

  const pollNodes = () => {
    const now = new Set(options.connectedNodes?.() ?? []);
    const flipped = [...now, ...connected].filter((node) => now.has(node) !== connected.has(node));
    if (flipped.length === 0) return;
    connected.clear();
    for (const node of now) connected.add(node);
    for (const record of source.records())
      if (flipped.includes(record.device.spec?.nodeName ?? '')) changed(deviceId(record.device));
  };
  pollNodes();

  const app = Fastify({ logger: false, bodyLimit: MAX_BODY, forceCloseConnections: true });
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const refuseHost = hostGuard(options.host, options.allowedHosts ?? [], () => port);
  app.addHook('onRequest', async (request, reply) => {
    const reason = refuseHost(request.headers.host, request.raw.socket.localAddress);
    if (reason) return reply.code(421).send({ code: 421, reason });
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status =
      error instanceof DashboardHttpError
        ? error.status
        : error.validation
          ? 400
          : (error.statusCode ?? 500) >= 400 && (error.statusCode ?? 500) < 500
            ? error.statusCode!
            : 500;
    if (status >= 500) log.error({ err: error.message, url: request.url }, 'dashboard api error');
    return reply.code(status).send({ code: status, reason: error.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ code: 404, reason: `not found: ${request.method} ${request.url.split('?')[0]}` }),
  );
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'edgetwin cloudcore dashboard API',
        description: "The edge HTTP API's device and twin routes, across every node, from Kubernetes.",
        version: '1',
      },
    },
  });

  const known = (namespace: string, name: string): DeviceRecord => {
    const record = source.record(`${namespace}/${name}`);
    if (!record) throw new DashboardHttpError(404, `no device ${namespace}/${name}`);
    return record;
  };
  const errors = (...codes: number[]) => Object.fromEntries(codes.map((code) => [code, ErrorBody]));

  typed.get(
    '/healthz',
    {
      schema: {
        response: {
          200: Type.Object({ status: Type.String(), devices: Type.Integer(), nodes: Type.Integer() }),
        },
      },
    },
    async () => ({ status: 'ok', devices: source.size, nodes: connected.size }),
  );
  typed.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  typed.get(
    '/api/v1/devices',
    { schema: { querystring: DevicesQuery, response: { 200: Type.Array(DeviceSummary) } } },
    async (request) => {
      const { node } = request.query;
      const records = source.records();
      return (
        node === undefined ? records : records.filter((r) => (r.device.spec?.nodeName ?? '') === node)
      ).map((record) => deviceSummary(record, isConnected));
    },
  );
  typed.get(
    '/api/v1/devices/:namespace/:name',
    { schema: { params: DeviceParams, response: { 200: DeviceView, ...errors(404) } } },
    async (request) => deviceView(known(request.params.namespace, request.params.name), isConnected),
  );
  typed.put(
    '/api/v1/devices/:namespace/:name/twins/:property/desired',
    {
      schema: {
        description:
          "Sets the desired value in the Device's spec, checked as the edge checks it. With `If-Match` " +
          "(desired.version: the Device's generation) it applies only if the spec is still at it, else 409.",
        params: TwinParams,
        headers: Type.Object({ 'if-match': Type.Optional(Type.String()) }),
        body: DesiredBody,
        response: { 200: TwinResult, ...errors(400, 403, 404, 409, 502) },
      },
    },
    async (request) => {
      const { namespace, name, property } = request.params;
      const key = `${namespace}/${name}`;
      const ifMatch = parseIfMatch(request.headers['if-match']);
      const body = request.body;
      const value = String(typeof body === 'string' ? body.trim() : body.value);
      const models = (ns: string, model: string) => source.model(ns, model);
      const device = await writeDesired(kubeConfig, models, key, property, value, ifMatch);
      const record = source.record(key);
      const twin = twinViews({ ...record, device })[property];
      log.info({ key, property, value, generation: twin?.desired?.version }, 'desired value set');
      return { id: key, property, ...twin! };
    },
  );
  typed.get(
    '/api/v1/devices/:namespace/:name/twins/:property/history',
    { schema: { params: TwinParams, response: { 404: ErrorBody } } },
    async (request, reply) => {
      const { namespace, name, property } = request.params;
      const record = known(namespace, name);
      if (!(property in twinViews(record)))
        throw new DashboardHttpError(404, `device ${namespace}/${name} has no property "${property}"`);
      const node = record.device.spec?.nodeName ?? '';
      return reply.code(404).send({ code: 404, reason: HISTORY_AT_EDGE, ...(node ? { node } : {}) });
    },
  );
  const eventsDoc =
    'Server-Sent Events: `hello` {devices} first, then `twin` {id, twins (changed; null: gone), delta}, ' +
    '`state` {id, state, lastOnlineTime, node, nodeConnected}, `device` (a new device) and `removed` {id}.';
  typed.get(
    '/api/v1/events',
    { schema: { description: eventsDoc, querystring: EventsQuery } },
    (request, reply) => {
      const { device } = request.query;
      const hello = () => {
        const records = device === undefined ? source.records() : [source.record(device) ?? []].flat();
        return { devices: records.map((record) => deviceView(record, isConnected)) };
      };
      reply.hijack();
      if (streams.open(reply.raw, device, hello)) return;
      reply.raw.writeHead(503, { 'content-type': 'application/json' });
      reply.raw.end(`${JSON.stringify({ code: 503, reason: 'too many event streams open' })}\n`);
    },
  );
  await serveDashboard(app, options.staticDir);
  app.addHook('preClose', async () => streams.closeAll());

  let port = 0;
  let timer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      clearInterval(timer);
      streams.closeAll();
      await app.close();
      await source.stop();
    })();
    return closing;
  };
  try {
    await source.start().catch((error: unknown) => {
      const watched =
        statusKind === 'DeviceStatus'
          ? 'devices, devicemodels and devicestatuses'
          : 'devices and devicemodels';
      throw new Error(`dashboard: cannot list and watch ${watched}: ${describeApiError(error)}`, {
        cause: error,
      });
    });
    started = true;
    await app.listen({ host: options.host, port: options.port }).catch((error: Error) => {
      throw new Error(`dashboard: cannot listen on ${options.host}:${options.port}: ${error.message}`, {
        cause: error,
      });
    });
  } catch (error) {
    await close();
    throw error;
  }
  port = (app.server.address() as AddressInfo).port;
  if (options.connectedNodes) timer = setInterval(pollNodes, options.nodePollMs ?? 1000);
  const urlHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${urlHost}:${port}`;
  log.info({ url, statusKind, devices: source.size }, 'dashboard api listening');
  return { url, port, close };
}

/** Where the built dashboard is: beside dist/cloudcore/ when compiled, under dist/ when run from the sources. */
export function dashboardDirs(): string[] {
  return ['../edgecore/dashboard/public/', '../dist/edgecore/dashboard/public/'].map((path) =>
    fileURLToPath(new URL(path, import.meta.url)),
  );
}

/** The dashboard's files at `/`, or a 404 there saying it is not built. */
async function serveDashboard(app: FastifyInstance, staticDir: string | undefined): Promise<void> {
  const dirs = staticDir ? [staticDir] : dashboardDirs();
  const root = dirs.find((dir) => existsSync(`${dir}/index.html`));
  if (root) {
    await app.register(fastifyStatic, { root, prefix: '/', index: ['index.html'] });
    return;
  }
  const reason = `the dashboard is not built (no index.html in ${dirs.join(' or ')}): run npm run build`;
  app.get('/', { schema: { hide: true } }, async (_request, reply) =>
    reply.code(404).send({ code: 404, reason }),
  );
}
