import type { TSchema } from '@sinclair/typebox';
import { compareText } from '../device-models/compare-text.js';
import { EdgeConfig } from './config.js';

/** Prefix of the environment variables that set edge.yaml fields: `EDGETWIN_HTTP__PORT=10351`. */
export const ENV_PREFIX = 'EDGETWIN_';

/** One field set from outside the file: by an environment variable or a `--set` flag. */
export interface ConfigOverride {
  /** The field, as schema names it: `['eventBus', 'internal', 'maxPacketSize']`. */
  path: string[];
  value: unknown;
  /** What set it: `EDGETWIN_HTTP__PORT` or `--set http.port`. */
  source: string;
}

export interface OverrideProblem {
  source: string;
  message: string;
}

/** A field whose value is not logged as it is. */
export const isSecretField = (path: readonly string[]) => /password|secret/i.test(path.at(-1) ?? '');

/** The environment variable that sets the field at `path` (`http.port` → `EDGETWIN_HTTP__PORT`). */
export function envName(path: readonly string[]): string {
  return ENV_PREFIX + path.map((key) => key.toUpperCase()).join('__');
}

/**
 * The edge.yaml fields set in the environment: `EDGETWIN_` then the field's path, levels separated by `__`,
 * each key matched case-insensitively against the schema. A variable with no `__` whose name is no top-level
 * field is not ours (EDGETWIN_CACHE, EDGETWIN_BIN… belong to the test tooling) and is ignored.
 */
export function envOverrides(env: NodeJS.ProcessEnv): {
  overrides: ConfigOverride[];
  problems: OverrideProblem[];
} {
  const overrides: ConfigOverride[] = [];
  const problems: OverrideProblem[] = [];
  const topLevel = Object.keys(EdgeConfig.properties).map((key) => key.toLowerCase());
  for (const [name, text] of Object.entries(env).sort(([a], [b]) => compareText(a, b))) {
    if (!name.toUpperCase().startsWith(ENV_PREFIX) || text === undefined) continue;
    const keys = name.slice(ENV_PREFIX.length).split('__');
    if (keys.length === 1 && !topLevel.includes(keys[0]!.toLowerCase())) continue;
    const result = override(keys, text, name);
    if ('message' in result) problems.push(result);
    else overrides.push(result);
  }
  return { overrides, problems };
}

/** `--set http.port=10351` (repeatable): a field by its dotted path, matched as the environment's keys are. */
export function flagOverrides(flags: readonly string[]): {
  overrides: ConfigOverride[];
  problems: OverrideProblem[];
} {
  const overrides: ConfigOverride[] = [];
  const problems: OverrideProblem[] = [];
  for (const flag of flags) {
    const at = flag.indexOf('=');
    if (at <= 0) {
      problems.push({ source: `--set ${flag}`, message: 'expected <field>=<value>, e.g. http.port=10351' });
      continue;
    }
    const result = override(flag.slice(0, at).split('.'), flag.slice(at + 1), `--set ${flag.slice(0, at)}`);
    if ('message' in result) problems.push(result);
    else overrides.push(result);
  }
  return { overrides, problems };
}

/** `value` set at `path` in `target` (objects made on the way). */
export function setIn(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

function override(keys: readonly string[], text: string, source: string): ConfigOverride | OverrideProblem {
  const path: string[] = [];
  let schema: TSchema = EdgeConfig;
  for (const key of keys) {
    const properties = (schema.properties ?? {}) as Record<string, TSchema>;
    const where = path.length > 0 ? path.join('.') : 'edge.yaml';
    if (schema.type !== 'object')
      return { source, message: `${where} has no fields (it is ${typeName(schema)})` };
    const match = Object.keys(properties).find((name) => name.toLowerCase() === key.toLowerCase());
    if (!match)
      return {
        source,
        message: `no field ${JSON.stringify(key)} in ${where} (its fields: ${Object.keys(properties).join(', ')})`,
      };
    path.push(match);
    schema = properties[match]!;
  }
  if (schema.type === 'object')
    return { source, message: `${path.join('.')} is a section: set its fields one by one` };
  const parsed = parseValue(schema, text);
  return 'error' in parsed
    ? { source, message: `${path.join('.')}: ${parsed.error}` }
    : { path, value: parsed.value, source };
}

type Parsed = { value: unknown } | { error: string };

/** Text → the schema's type; the schema's bounds are checked later with the whole config. */
function parseValue(schema: TSchema, text: string): Parsed {
  const trimmed = text.trim();
  if (Array.isArray(schema.enum)) {
    const found = (schema.enum as string[]).find((v) => v.toLowerCase() === trimmed.toLowerCase());
    return found !== undefined
      ? { value: found }
      : { error: `must be one of ${schema.enum.join(', ')} (got ${JSON.stringify(text)})` };
  }
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const value = Number(trimmed);
      const ok =
        trimmed !== '' && Number.isFinite(value) && (schema.type === 'number' || Number.isInteger(value));
      return ok
        ? { value }
        : {
            error: `must be ${schema.type === 'integer' ? 'an integer' : 'a number'} (got ${JSON.stringify(text)})`,
          };
    }
    case 'boolean': {
      const lower = trimmed.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(lower)) return { value: true };
      if (['false', '0', 'no', 'off'].includes(lower)) return { value: false };
      return { error: `must be true or false (got ${JSON.stringify(text)})` };
    }
    case 'array':
      return parseList(schema.items as TSchema, trimmed);
    default:
      return { value: text };
  }
}

/** A JSON array, or a comma-separated list of items of a scalar type (empty text: the empty list). */
function parseList(items: TSchema, text: string): Parsed {
  if (text.startsWith('[')) {
    try {
      const value: unknown = JSON.parse(text);
      return Array.isArray(value) ? { value } : { error: 'must be a JSON array' };
    } catch (error) {
      return { error: `not valid JSON: ${(error as Error).message}` };
    }
  }
  if (items.type === 'object') return { error: 'a list of objects is given as a JSON array: [{…}, …]' };
  if (text === '') return { value: [] };
  const value: unknown[] = [];
  for (const [i, part] of text.split(',').entries()) {
    const item = parseValue(items, part.trim());
    if ('error' in item) return { error: `item ${i + 1}: ${item.error}` };
    value.push(item.value);
  }
  return { value };
}

function typeName(schema: TSchema): string {
  if (Array.isArray(schema.enum)) return 'an enum';
  if (schema.type === 'array') return 'a list';
  return `${/^[aeiou]/.test(String(schema.type)) ? 'an' : 'a'} ${String(schema.type)}`;
}
