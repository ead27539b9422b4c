import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { errors } from './http-schemas.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The error statuses a route answers, documented with the shared Error body. Only documented: an error is
     * rare, and is written without a compiled serialiser (one per status and route cost memory at start).
     */
    errors?: number[];
  }
}

/** Where the OpenAPI document is served. */
export const OPENAPI_PATH = '/api/openapi.json';

/**
 * Generates the OpenAPI 3 document from the routes' schemas (@fastify/swagger; every route registered after
 * this call, but those with `hide`) and serves it at OPENAPI_PATH. Shared schemas keep their `$id` as their
 * name under components.schemas.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'edgetwin edge HTTP API',
        description:
          'The devices of one edge node, their twins (desired and reported values), their history, live changes, health and metrics. Errors are `{code, reason, ...}` naming the field.',
        version: 'v1',
      },
      tags: [
        { name: 'devices', description: 'Devices and their twins' },
        { name: 'events', description: 'Live changes (Server-Sent Events)' },
        { name: 'health', description: 'Health and metrics' },
      ],
    },
    transform: ({ schema, url, route }) => {
      const codes = (route.config as { errors?: number[] } | undefined)?.errors;
      if (!codes || !schema) return { schema, url };
      return {
        schema: { ...schema, response: { ...(schema.response as object), ...errors(...codes) } },
        url,
      };
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
  });
  app.get(OPENAPI_PATH, { schema: { hide: true } }, () => app.swagger());
}
