import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { EdgeContext } from './context.js';
import { EVENT_STREAM_HEAD, type EventStreams } from './http-events.js';
import { HttpError } from './http-guard.js';
import { historyOf, parseSince } from './http-history.js';
import {
  DesiredJson,
  DesiredResult,
  DeviceParams,
  DeviceSummary,
  DeviceView,
  EventsQuery,
  Health,
  HISTORY_DEFAULT_LIMIT,
  History,
  HistoryQuery,
  refTo,
  TwinParams,
} from './http-schemas.js';
import { type DeviceViews, twinView } from './http-views.js';
import type { TwinModule } from './twin-module.js';

/** The Fastify instance of the API, typed from its TypeBox schemas. */
export type ApiInstance = FastifyInstance<
  Server,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What the routes read and change. */
export interface RouteDeps {
  ctx: EdgeContext;
  twin: TwinModule;
  views: DeviceViews;
  streams: EventStreams;
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

/**
 * The desired value of a PUT's body, as its schema let it through: text/plain (trimmed), or JSON
 * `{"value": …}` (a number or boolean taken as its text). A request without a body has none: 400.
 */
function desiredValue(body: unknown): string {
  if (typeof body === 'string') return body.trim();
  const value = (body as { value?: unknown } | null | undefined)?.value;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    return String(value);
  throw new HttpError(
    400,
    'body is empty: send {"value": "<desired value>"} as application/json, or text/plain',
  );
}

type Params = { namespace: string; name: string };
const deviceId = (request: FastifyRequest) => {
  const { namespace, name } = request.params as Params;
  return `${namespace}/${name}`;
};

/**
 * The API's routes, each with its TypeBox schemas (validation, the handler's types and the OpenAPI document;
 * `config.errors` lists the error statuses it documents). A route under a device answers 404 for an unknown
 * device before its body is read.
 */
export function registerRoutes(app: ApiInstance, { ctx, twin, views, streams }: RouteDeps): void {
  const requireDevice = (request: FastifyRequest, _res: unknown, done: (error?: Error) => void) => {
    const id = deviceId(request);
    done(ctx.devices.has(id) ? undefined : new HttpError(404, `no device ${id}`));
  };

  app.get(
    '/healthz',
    {
      schema: {
        operationId: 'getHealth',
        tags: ['health'],
        response: {
          200: refTo(Health, 'Healthy'),
          503: refTo(Health, 'The EventBus is disconnected or the twin store cannot commit'),
        },
      },
    },
    (_request, res) => {
      // The cloud link is reported, not required: with the cloud away the edge keeps working (autonomy).
      // The store is required: an edge that cannot store a twin acknowledges nothing.
      const store = ctx.store.health;
      const problem = !ctx.bus.connected
        ? 'eventbus disconnected'
        : store.writable
          ? undefined
          : `twin store cannot write: ${store.error?.message ?? 'unknown'}`;
      res.code(problem ? 503 : 200);
      return {
        status: problem ?? 'ok',
        ...(problem ? { reason: problem } : {}),
        store: store.writable ? ('ok' as const) : { writable: false, ...store.error },
        cloud: ctx.cloud ? (ctx.cloud.connected ? 'connected' : 'disconnected') : 'not joined',
      };
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        tags: ['health'],
        response: {
          200: {
            description: 'Prometheus metrics, in the text exposition format',
            content: { 'text/plain': { schema: Type.String() } },
          },
        },
      },
    },
    async (_request, res) => {
      ctx.metrics.outboxDepth.set(ctx.store.outboxDepth());
      const text = await ctx.metrics.registry.metrics();
      res.type(ctx.metrics.registry.contentType);
      return text;
    },
  );

  app.get(
    '/api/v1/devices',
    {
      schema: {
        operationId: 'listDevices',
        tags: ['devices'],
        response: { 200: Type.Array(refTo(DeviceSummary), { description: 'The devices of this node' }) },
      },
    },
    () => [...ctx.devices.keys()].flatMap((id) => views.summary(id) ?? []),
  );

  app.get(
    '/api/v1/devices/:namespace/:name',
    {
      onRequest: requireDevice,
      schema: {
        operationId: 'getDevice',
        tags: ['devices'],
        params: DeviceParams,
        response: { 200: refTo(DeviceView, 'The device with its twins and delta') },
      },
      config: { errors: [404] },
    },
    (request) => {
      const id = deviceId(request);
      const view = views.device(id);
      if (!view) throw new HttpError(404, `no device ${id}`);
      return view;
    },
  );

  const desiredPath = '/api/v1/devices/:namespace/:name/twins/:property/desired';
  app.put(
    desiredPath,
    {
      onRequest: requireDevice,
      schema: {
        operationId: 'setDesired',
        tags: ['devices'],
        description:
          'Sets the desired value of a property: `{"value": "23.5"}` (a number or boolean is taken as its text), ' +
          'or the value as text/plain. With `If-Match: "cloud.edge"` (the desired version GET shows) it applies ' +
          'only if the desired value is still at that version, else 409.',
        params: TwinParams,
        headers: Type.Object({ 'if-match': Type.Optional(Type.String()) }),
        body: {
          content: {
            'application/json': { schema: DesiredJson },
            'text/plain': { schema: Type.String() },
          },
        },
        response: { 200: refTo(DesiredResult, 'Stored: the twin as it now is') },
      },
      config: { errors: [400, 404, 409, 413, 415, 503] },
    },
    async (request) => {
      const id = deviceId(request);
      const { property } = request.params;
      const basedOn = parseIfMatch(request.headers['if-match']);
      const value = desiredValue(request.body);
      const outcome = await twin.setDesired(id, property, value, basedOn);
      if (!outcome.ok) throw new HttpError(outcome.code, outcome.reason);
      const current = twin.twins(id)?.[property];
      return { id, property, ...(current ? twinView(current) : {}) };
    },
  );
  app.route({
    method: ['GET', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    url: desiredPath,
    onRequest: requireDevice,
    schema: { hide: true },
    handler: () => {
      throw new HttpError(405, 'use PUT');
    },
  });

  app.get(
    '/api/v1/devices/:namespace/:name/twins/:property/history',
    {
      onRequest: requireDevice,
      schema: {
        operationId: 'getTwinHistory',
        tags: ['devices'],
        description: "The property's reported values, oldest first: the newest `limit` since `since`.",
        params: TwinParams,
        querystring: HistoryQuery,
        response: { 200: refTo(History, 'The reported values, oldest first') },
      },
      config: { errors: [400, 404, 501] },
    },
    (request) => {
      const id = deviceId(request);
      const { property } = request.params;
      const device = ctx.devices.get(id);
      if (!device?.properties.some((p) => p.name === property) && !twin.twins(id)?.[property])
        throw new HttpError(404, `no property "${property}" on device ${id}`);
      const since = parseSince(request.query.since);
      const history = historyOf(ctx.store);
      if (!history) throw new HttpError(501, 'twin history is not kept by this build (TwinStore.history)');
      return {
        id,
        property,
        points: history(id, property, { since, limit: request.query.limit ?? HISTORY_DEFAULT_LIMIT }),
      };
    },
  );

  app.get(
    '/api/v1/events',
    {
      exposeHeadRoute: false,
      schema: {
        operationId: 'streamEvents',
        tags: ['events'],
        description:
          'Server-Sent Events: `hello` `{devices: [Device]}` first, then `twin` `{id, twins: {property: TwinView ' +
          '| null}, delta}` after each acknowledged twin change (the changed twins; null: deleted) and `state` ' +
          '`{id, state, lastOnlineTime}` when a state changes. A comment line every 15 s; a client that falls ' +
          'more than 1 MiB behind is dropped (reconnect for a fresh hello).',
        querystring: EventsQuery,
        response: {
          200: {
            description: 'The stream of events',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
        },
      },
      config: { errors: [404, 503] },
    },
    (request, res) => {
      const { device } = request.query;
      if (device !== undefined && !ctx.devices.has(device)) throw new HttpError(404, `no device ${device}`);
      streams.checkRoom();
      res.hijack();
      // Liveness is the heartbeat's: the idle timeout of requests must not close a quiet stream.
      request.raw.socket.setTimeout(0);
      res.raw.writeHead(200, EVENT_STREAM_HEAD);
      streams.open(res.raw, device);
    },
  );
}
