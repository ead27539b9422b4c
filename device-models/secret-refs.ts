import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { EdgetwinError } from './errors.js';
import type { ResolvedDevice } from './resolved.js';
import type { PathSegment } from './validate/problems.js';

/**
 * Secrets in `configData` are written as references, never as clear text: a string value that is exactly
 * `${env:NAME}` (an environment variable of the process that runs the device) or `${file:/absolute/path}` (a
 * file's content, one trailing newline dropped), the syntax of the OpenTelemetry Collector's configuration.
 * `$${…}` stands for the literal text `${…}`. A reference is a plain string, so it passes KubeEdge's free-form
 * configData and the protocol schemas unchanged; it is resolved only when the device is about to run
 * (`resolveSecrets`), so the YAML, the Kubernetes object and the edge's SQLite copy of it hold the reference.
 */
export type SecretSource = { env: string } | { file: string };

/** Where a reference is: its path inside `ResolvedDevice.config`, the field as written, and file:line:col. */
export interface SecretSite {
  path: PathSegment[];
  /** e.g. `spec.protocol.configData.password` (or the model's `spec.protocolConfigData.password`). */
  field: string;
  /** `file:line:col` of the value, or the object's origin (e.g. `cloud:default/tank-01`) with no file behind it. */
  at: string;
  source: SecretSource;
}

const REFERENCE = /^\$\{(env|file):(.*)\}$/s;
const ESCAPED = /^\$\$\{.*\}$/s;
const LOOKS_LIKE = /^\$\{[A-Za-z][\w-]*:.*\}$/s;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A problem with a reference as written; `resolveDevice` reports it at the value's position. */
type Complain = (path: PathSegment[], message: string, severity: 'error' | 'warning') => void;

/**
 * Finds the references among the string values of `config` (nested objects and lists too). Escaped values
 * (`$${…}`) are unescaped in place. A malformed reference is an error, `${other:…}` a warning (it stays text).
 */
export function findSecretRefs(
  config: Record<string, unknown>,
  locate: (path: PathSegment[]) => { field: string; at: string },
  complain: Complain,
): SecretSite[] {
  const sites: SecretSite[] = [];
  const visit = (holder: Record<string, unknown> | unknown[], key: string | number, path: PathSegment[]) => {
    const value = (holder as Record<string | number, unknown>)[key];
    if (typeof value === 'string') {
      if (ESCAPED.test(value)) (holder as Record<string | number, unknown>)[key] = value.slice(1);
      const match = REFERENCE.exec(value);
      if (match) {
        const source = parseSource(match[1] as 'env' | 'file', match[2]!, (m) => complain(path, m, 'error'));
        if (source) sites.push({ path, ...locate(path), source });
      } else if (LOOKS_LIKE.test(value))
        complain(
          path,
          `${value.split(':')[0]}:…} is not a secret reference (only \${env:NAME} and \${file:/path}); it is used as written`,
          'warning',
        );
    } else if (Array.isArray(value)) for (let i = 0; i < value.length; i++) visit(value, i, [...path, i]);
    else if (typeof value === 'object' && value !== null)
      for (const k of Object.keys(value)) visit(value as Record<string, unknown>, k, [...path, k]);
  };
  for (const key of Object.keys(config)) visit(config, key, [key]);
  return sites;
}

function parseSource(kind: 'env' | 'file', name: string, fail: (message: string) => void) {
  if (kind === 'env') {
    if (ENV_NAME.test(name)) return { env: name };
    fail(`\${env:${name}}: not an environment variable name (letters, digits and _, not first a digit)`);
    return undefined;
  }
  if (isAbsolute(name)) return { file: name };
  fail(`\${file:${name}}: the path must be absolute`);
  return undefined;
}

/** A device's secret reference could not be resolved where it is about to run. */
export class SecretUnresolved extends EdgetwinError {
  constructor(
    readonly device: string,
    readonly site: SecretSite,
    reason: string,
    options?: ErrorOptions,
  ) {
    super('SECRET_UNRESOLVED', `device ${device}: ${site.field} (${site.at}): ${reason}`, options);
  }
}

export interface SecretResolveOptions {
  /** Default: process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default: fs.readFileSync as UTF-8. */
  readFile?: (path: string) => string;
}

/**
 * The device with each secret reference in its `config` replaced by the secret (a copy: the device given, which
 * is what is stored and logged, keeps the references). Throws `SecretUnresolved` for an unset variable or an
 * unreadable file, naming the device, the field and where it is written.
 */
export function resolveSecrets<D extends ResolvedDevice<object, object>>(
  device: D,
  options: SecretResolveOptions = {},
): D {
  if (!device.secrets?.length) return device;
  const env = options.env ?? process.env;
  const read = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  const config = structuredClone(device.config) as Record<string | number, unknown>;
  for (const site of device.secrets) {
    let secret: string;
    if ('env' in site.source) {
      const value = env[site.source.env];
      if (value === undefined)
        throw new SecretUnresolved(device.id, site, `environment variable ${site.source.env} is not set`);
      secret = value;
    } else {
      try {
        secret = read(site.source.file).replace(/\r?\n$/, '');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        throw new SecretUnresolved(device.id, site, `cannot read ${site.source.file} (${code})`, {
          cause: error,
        });
      }
    }
    let holder = config;
    for (const segment of site.path.slice(0, -1))
      holder = holder[segment] as Record<string | number, unknown>;
    holder[site.path.at(-1)!] = secret;
  }
  return { ...device, config };
}
