import type { TSchema } from '@sinclair/typebox';
import type { ErrorObject } from 'ajv';
import { validatorFor } from '../ajv.js';
import { type PathSegment, suggest } from './problems.js';

/** A schema violation, with its path as segments so that it can be located in the source. */
export interface Violation {
  path: PathSegment[];
  message: string;
  /** A field the schema does not know (the others are values the schema refuses). */
  unknownField?: true;
}

/**
 * Validates `data` (in place: protocol configData is normalised, "502" becomes 502) and turns ajv's errors
 * into messages a person can act on, with the offending field's path.
 */
export function validateAgainst(
  schema: TSchema,
  data: unknown,
  base: readonly PathSegment[] = [],
): Violation[] {
  const validate = validatorFor(schema);
  if (validate(data)) return [];
  return (validate.errors ?? []).map((error) => describe(error, data, base));
}

function describe(error: ErrorObject, root: unknown, base: readonly PathSegment[]): Violation {
  const path = [...base, ...pointerSegments(error.instancePath)];
  const value = valueAt(root, pointerSegments(error.instancePath));
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { path: [...path, String(params.missingProperty)], message: 'is required' };
    case 'additionalProperties': {
      const field = String(params.additionalProperty);
      const known = Object.keys((error.parentSchema?.properties as object | undefined) ?? {});
      const hint = suggest(field, known);
      return {
        path: [...path, field],
        message: `unknown field${hint ? ` (did you mean "${hint}"?)` : ''}`,
        unknownField: true,
      };
    }
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const hint = typeof value === 'string' ? suggest(value, allowed) : undefined;
      return {
        path,
        message: `must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})${hint ? `; did you mean ${hint}?` : ''}`,
      };
    }
    case 'const':
      return {
        path,
        message: `must be ${JSON.stringify(params.allowedValue)} (got ${JSON.stringify(value)})`,
      };
    case 'type': {
      const expected = String(params.type);
      const quote = expected === 'string' && (typeof value === 'number' || typeof value === 'boolean');
      return {
        path,
        message: quote
          ? `must be a string: quote it ("${String(value)}")`
          : `must be ${article(expected)} (got ${value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value})`,
      };
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
    case 'minLength':
    case 'maxLength':
      return { path, message: `${error.message} (got ${JSON.stringify(value)})` };
    case 'pattern': {
      const described = error.parentSchema?.description as string | undefined;
      return {
        path,
        message: `${JSON.stringify(value)} is not valid${described ? `: ${described}` : ` (must match ${String(params.pattern)})`}`,
      };
    }
    default:
      return { path, message: error.message ?? 'is invalid' };
  }
}

function article(type: string): string {
  const noun = type.replace(',', ' or ');
  return /^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`;
}

function pointerSegments(pointer: string): PathSegment[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let node = root;
  for (const segment of path) node = (node as Record<PathSegment, unknown> | undefined)?.[segment];
  return node;
}
