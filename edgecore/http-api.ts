import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify from 'fastify';
import { rateLimitedLogger } from '../sdk/log-limit.js';
import { httpSettings } from './config.js';
import type { EdgeContext } from './context.js';
import { DASHBOARD_DIR, registerDashboard } from './http-dashboard.js';
import { MAX_BODY, sendError } from './http-errors.js';
import { EventStreams } from './http-events.js';
import { checkTarget, HostCheck, HttpError, pathSegments } from './http-guard.js';
import { boundServer, clientErrorHandler, serverTimeouts } from './http-limits.js';
import { registerOpenApi } from './http-openapi.js';
import { registerRoutes } from './http-routes.js';
import { API_SCHEMAS } from './http-schemas.js';
import { schemaController, schemaError } from './http-validation.js';
import { deviceViews } from './http-views.js';
import type { TwinModule } from './twin-module.js';

/** The running API: where it listens, and how to stop it (ending its event streams). */
export interface HttpApi {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** What startHttpApi may be told besides the `http` section of edge.yaml. */
export interface HttpApiOptions {
  /** The built dashboard served at `/` (default: DASHBOARD_DIR, beside this module); false: none. */
  dashboard?: URL | false;
}

/**
 * The edge HTTP API on Fastify: devices and their twins, desired values set at the edge (conditional with
 * If-Match), twin history, live changes (Server-Sent Events), health, Prometheus metrics, the OpenAPI
 * document of it all (GET /api/openapi.json) and the dashboard. Every error is `{code, reason, ...}`.
 */
export async function startHttpApi(
  ctx: EdgeContext,
  twin: TwinModule,
  options: HttpApiOptions = {},
): Promise<HttpApi> {
  const http = httpSettings(ctx.config.http);
  const log = rateLimitedLogger(ctx.log);
  let port = 0;
  const hosts = new HostCheck(http.host, http.allowedHosts, () => port);
  const reply = sendError(log);
  const app = Fastify({
    serverFactory: (handler) => {
      const server = createServer(serverTimeouts(http), handler);
      boundServer(server, http, log);
      return server;
    },
    clientErrorHandler: clientErrorHandler(log),
    bodyLimit: MAX_BODY,
    forceCloseConnections: true,
    logger: false,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 16 * 1024 },
    schemaController: schemaController(),
    schemaErrorFormatter: schemaError,
    // A path find-my-way cannot decode: answered as any other request, Host check first.
    frameworkErrors: (error, request, res) => {
      let failure: unknown = error;
      try {
        hosts.check(request.raw);
        pathSegments(request.raw.url);
      } catch (guard) {
        failure = guard;
      }
      reply(failure, request, res);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setErrorHandler(reply);
  app.setNotFoundHandler((request, res) => reply(new HttpError(404, 'not found'), request, res));
  // The DNS-rebinding guard, and a 400 naming a segment or query part that is not valid percent-encoding.
  app.addHook('onRequest', (request, _res, done) => {
    try {
      hosts.check(request.raw);
      checkTarget(request.raw.url);
      done();
    } catch (error) {
      done(error as Error);
    }
  });
  for (const schema of API_SCHEMAS) app.addSchema(schema);
  await registerOpenApi(app);

  const views = deviceViews(ctx, twin);
  const streams = new EventStreams(twin, views, () => ctx.devices.keys(), log, {
    maxClients: Math.max(1, Math.floor(http.maxConnections / 2)),
  });
  // Before the connections are closed: every event stream ends rather than being cut.
  app.addHook('preClose', (done) => {
    streams.closeAll();
    done();
  });
  registerRoutes(app, { ctx, twin, views, streams });
  await registerDashboard(app, options.dashboard ?? DASHBOARD_DIR);

  await app.listen({ port: http.port, host: http.host });
  port = (app.server.address() as AddressInfo).port;
  const urlHost = http.host.includes(':') ? `[${http.host}]` : http.host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: async () => {
      await app.close();
      log.close();
    },
  };
}
