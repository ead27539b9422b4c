import { Ajv, type ValidateFunction } from 'ajv';
import type { FastifySchemaValidationError, FastifyServerOptions } from 'fastify';

/**
 * Schema failures in one sentence naming the field: `querystring/limit must be <= 10000`; a value that fits
 * none of a union's types, `body/value must be string, number or boolean` rather than one error per type.
 */
export function schemaError(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const anyOf = errors.find((e) => e.keyword === 'anyOf');
  if (anyOf) {
    const types = errors
      .filter((e) => e.keyword === 'type' && e.instancePath === anyOf.instancePath)
      .map((e) => String((e.params as { type?: unknown }).type));
    if (types.length > 0) {
      const list = types.length > 1 ? `${types.slice(0, -1).join(', ')} or ${types.at(-1)}` : types[0];
      return new Error(`${dataVar}${anyOf.instancePath} must be ${list}`);
    }
  }
  const first = errors[0];
  return new Error(first ? `${dataVar}${first.instancePath} ${first.message}` : `${dataVar} is not valid`);
}

/**
 * Validators for the routes' schemas: query, path and headers coerced from their text (`limit=5` is the
 * number 5), a body never (a JSON `null` or `["22"]` is no desired value, not "" or "22"); otherwise
 * Fastify's own ajv options. Request schemas are inline: the shared ones ($id) describe responses only.
 */
function validatorCompiler() {
  // No meta-schema and no schema validation: the schemas are ours, and compiling the meta-schema in each
  // instance cost megabytes of allocation at start.
  const options = {
    useDefaults: true,
    removeAdditional: true,
    allErrors: false,
    strict: false,
    meta: false,
    validateSchema: false,
    addUsedSchema: false,
  } as const;
  let coercing: Ajv | undefined;
  let exact: Ajv | undefined;
  return ({ schema, httpPart }: { schema?: unknown; httpPart?: string }): ValidateFunction => {
    if (httpPart === 'body') exact ??= new Ajv({ ...options, coerceTypes: false });
    else coercing ??= new Ajv({ ...options, coerceTypes: 'array' });
    return (httpPart === 'body' ? exact : coercing)!.compile(schema as object);
  };
}

/**
 * Fastify's `schemaController`: our validators, and responses written with JSON.stringify. The response
 * schemas type the handlers and document the API; compiling a serialiser for each (fast-json-stringify)
 * cost memory at start and no time per request worth having (the twin maps are open records). Given both,
 * Fastify loads neither of its compiler packages.
 */
export function schemaController(): NonNullable<FastifyServerOptions['schemaController']> {
  return {
    compilersFactory: {
      buildValidator: () => validatorCompiler(),
      buildSerializer: () => () => (data: unknown) => JSON.stringify(data),
    },
  };
}
