import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { validatorFor } from '../device-models/ajv.js';
import { EdgetwinError } from '../device-models/errors.js';
import type { ProtocolRegistration } from '../sdk/registration.js';
import { builtInProtocols } from './builtin.js';

/** A plug-in that cannot be used: not found, no registration exported, a bad shape, or a name taken. */
export class PluginError extends EdgetwinError {
  constructor(
    readonly plugin: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super('PLUGIN_INVALID', `plug-in ${JSON.stringify(plugin)}: ${message}`, options);
  }
}

export interface PluginOptions {
  /** Where names and relative paths are resolved from: the config file's directory, or the current one. */
  from?: string;
  /** Protocols a plug-in may not take the name of (default: the built-in ones). */
  taken?: readonly ProtocolRegistration[];
}

const isPath = (specifier: string) =>
  specifier.startsWith('.') || isAbsolute(specifier) || specifier.startsWith('file:');

/**
 * The file a plug-in's registration is imported from: a package name is resolved as Node resolves it from
 * `from` (its node_modules, then the parents'), through the package's `exports` (the `default` or `require`
 * condition); a path names a package directory (its package.json `exports['.']`, `module` or `main`) or a file.
 */
export async function resolvePlugin(specifier: string, from = process.cwd()): Promise<string> {
  if (isPath(specifier)) {
    const path = specifier.startsWith('file:') ? new URL(specifier).pathname : resolve(from, specifier);
    const found = await stat(path).catch(() => undefined);
    if (!found) throw new PluginError(specifier, `${path} does not exist`);
    return found.isDirectory() ? entryOfDirectory(specifier, path) : path;
  }
  try {
    return createRequire(join(resolve(from), 'noop.js')).resolve(specifier);
  } catch (error) {
    throw new PluginError(
      specifier,
      `cannot be found from ${resolve(from)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ` +
        'install it there (npm install), or give its path',
      { cause: error },
    );
  }
}

async function entryOfDirectory(specifier: string, dir: string): Promise<string> {
  const text = await readFile(join(dir, 'package.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return join(dir, 'index.js');
  const pkg = JSON.parse(text) as { exports?: unknown; module?: string; main?: string };
  let entry = typeof pkg.exports === 'string' ? pkg.exports : (pkg.exports as Record<string, unknown>)?.['.'];
  if (entry && typeof entry === 'object') {
    const conditions = entry as Record<string, unknown>;
    entry = conditions.import ?? conditions.default ?? conditions.node;
  }
  if (typeof entry !== 'string') entry = pkg.module ?? pkg.main ?? 'index.js';
  if (typeof entry !== 'string') throw new PluginError(specifier, `${dir}/package.json names no entry`);
  return join(dir, entry);
}

/**
 * Imports a plug-in's registration (its light entry: schemas, checks, and a `loadDriver` that imports the
 * driver only when a device uses the protocol) and checks it: the default export, or a named `protocol` export,
 * must be a registration object whose name is not a built-in protocol's, and whose schemas compile.
 */
export async function loadPlugin(
  specifier: string,
  options: PluginOptions = {},
): Promise<ProtocolRegistration> {
  const file = await resolvePlugin(specifier, options.from);
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new PluginError(specifier, `${file} failed to import: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const candidate = [module.default, module.protocol].find(
    (value) => typeof value === 'object' && value !== null && 'protocol' in value,
  );
  if (!candidate)
    throw new PluginError(
      specifier,
      `${file} exports no registration: export default (or export const protocol =) ` +
        '{protocol, configSchema, visitorSchema, loadDriver}',
    );
  return checkRegistration(
    specifier,
    candidate as Record<string, unknown>,
    options.taken ?? builtInProtocols,
  );
}

/** Checks the shape of a registration a plug-in exports; throws a PluginError naming the plug-in. */
export function checkRegistration(
  plugin: string,
  value: Record<string, unknown>,
  taken: readonly ProtocolRegistration[] = builtInProtocols,
): ProtocolRegistration {
  const fail = (message: string): never => {
    throw new PluginError(plugin, message);
  };
  const { protocol } = value;
  if (typeof protocol !== 'string' || protocol.trim() === '')
    fail('`protocol` must be the protocol name (a non-empty string)');
  const name = protocol as string;
  if (taken.some((p) => p.protocol === name))
    fail(
      `protocol "${name}" is already ${builtInProtocols.some((p) => p.protocol === name) ? 'built in' : 'taken by another plug-in'}`,
    );
  for (const key of ['configSchema', 'visitorSchema'] as const) {
    const schema = value[key];
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema))
      fail(`\`${key}\` must be a TypeBox or JSON schema (an object)`);
    try {
      validatorFor(schema as never);
    } catch (error) {
      fail(`\`${key}\` is not a valid JSON schema: ${(error as Error).message}`);
    }
  }
  if (typeof value.loadDriver !== 'function')
    fail('`loadDriver` must be a function that imports the driver: async () => ({createDriver(context)})');
  for (const key of ['createSimulator', 'checkConfig', 'checkVisitor', 'isRead'] as const)
    if (value[key] !== undefined && typeof value[key] !== 'function') fail(`\`${key}\` must be a function`);
  const aliases = value.configAliases;
  if (
    aliases !== undefined &&
    (typeof aliases !== 'object' ||
      aliases === null ||
      Object.values(aliases).some((key) => typeof key !== 'string'))
  )
    fail('`configAliases` must map other key names to configData keys');
  return value as unknown as ProtocolRegistration;
}

export interface LoadedPlugins {
  protocols: ProtocolRegistration[];
  /** The plug-ins that could not be used, each error naming its plug-in. */
  errors: PluginError[];
}

/**
 * Loads several plug-ins: each is checked against the built-in protocols and the plug-ins before it. One that
 * fails is left out and its error returned, so a caller that must keep running (edgecore) can log it.
 */
export async function loadPlugins(
  specifiers: readonly string[],
  options: PluginOptions = {},
): Promise<LoadedPlugins> {
  const protocols: ProtocolRegistration[] = [];
  const errors: PluginError[] = [];
  for (const specifier of specifiers) {
    try {
      const taken = [...(options.taken ?? builtInProtocols), ...protocols];
      protocols.push(await loadPlugin(specifier, { ...options, taken }));
    } catch (error) {
      if (!(error instanceof PluginError)) throw error;
      errors.push(error);
    }
  }
  return { protocols, errors };
}
