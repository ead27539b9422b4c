import type { FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import type { LimitedLogger } from '../sdk/log-limit.js';
import { HttpError } from './http-guard.js';
import type { ErrorBody } from './http-schemas.js';

/** Largest request body, bytes (a desired value is at most 512 characters). */
export const MAX_BODY = 64 * 1024;

/** The content types a desired value comes in. */
const TAKEN = 'send application/json or text/plain';

/**
 * Any error of a request as the API answers it, `{code, reason, ...}`: ours (HttpError) as thrown, Fastify's
 * own with a reason that says what to do (schema failures name the field, as schemaError words them).
 */
export function errorBody(error: unknown, request: FastifyRequest): ErrorBody {
  if (error instanceof HttpError) return { code: error.status, reason: error.message, ...error.details };
  const fastify = error as Partial<FastifyError>;
  if (fastify.validation) {
    const first = fastify.validation[0];
    const field = `${fastify.validationContext ?? ''}${first?.instancePath ?? ''}`;
    return { code: 400, reason: fastify.message ?? 'bad request', ...(field ? { field } : {}) };
  }
  switch (fastify.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 413, reason: `body larger than ${MAX_BODY} bytes` };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return {
        code: 415,
        reason: `content-type ${request.headers['content-type'] ?? '(none)'} is not taken: ${TAKEN}`,
      };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { code: 400, reason: 'body is not valid JSON' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { code: 400, reason: 'body is empty: send {"value": "<desired value>"}' };
  }
  const status = fastify.statusCode;
  if (status !== undefined && status >= 400 && status < 500)
    return { code: status, reason: fastify.message ?? 'bad request' };
  return { code: 500, reason: (error as Error)?.message ?? String(error) };
}

interface FastifyError extends Error {
  code: string;
  statusCode: number;
  validation: FastifySchemaValidationError[];
  validationContext: string;
}

/**
 * Sends `error` as errorBody words it, logging (rate-limited) what needs a look: a 500 as an error, a
 * refused Host as a warning.
 */
export function sendError(log: LimitedLogger) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const body = errorBody(error, request);
    if (body.code >= 500) log.error({ err: body.reason, url: request.url }, 'http api error');
    else if (body.code === 421)
      log.warn({ host: request.headers.host }, 'http request refused: Host not allowed');
    // A request whose body was not read to its end leaves bytes on the connection: close it after this answer.
    if (body.code === 413 || body.code === 415) reply.header('connection', 'close');
    if (body.code === 405) reply.header('allow', 'PUT');
    return reply.code(body.code).type('application/json').send(body);
  };
}
