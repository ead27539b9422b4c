import { readFile } from 'node:fs/promises';
import { type Static, Type } from '@sinclair/typebox';
import { parseDocument } from 'yaml';
import { Closed, DeviceModelError, StringEnum, validatorFor } from '../device-models/index.js';

/** edgecore's configuration (edge.yaml). Every field has a default, so no file is needed. */
export const EdgeConfig = Closed({
  nodeName: Type.String({
    minLength: 1,
    default: 'edge-node-1',
    description: 'This gateway, as spec.nodeName names it.',
  }),
  dataDir: Type.String({ default: './data', description: 'Where the twin database lives.' }),
  eventBus: Closed({
    mode: StringEnum(
      ['internal', 'external', 'both'] as const,
      'KubeEdge mqttMode: embedded broker, external, or both.',
    ),
    internal: Closed({
      host: Type.String({ default: '127.0.0.1' }),
      port: Type.Integer({
        minimum: 0,
        maximum: 65535,
        default: 1884,
        description: "KubeEdge's internal port.",
      }),
      auth: StringEnum(
        ['credentials', 'none'] as const,
        'credentials (default): every client presents a username and password (see `edgetwin broker credentials`) ' +
          'and the per-topic ACL of its role applies; none: anonymous clients, KubeEdge-style, may do anything ' +
          "but publish the edge's outputs.",
      ),
      maxPacketSize: Type.Integer({
        minimum: 1024,
        maximum: 268_435_460,
        default: 262_144,
        description: 'Largest MQTT packet a client may send, bytes; a larger one closes its connection.',
      }),
      apps: Type.Array(
        Closed({
          name: Type.String({
            pattern: '^(?!mapper-)[A-Za-z0-9._-]{1,64}$',
            description: 'The MQTT username of the app (mapper-… is taken by the mappers).',
          }),
          role: StringEnum(
            ['read', 'readwrite'] as const,
            'read: every topic, publishes only twin/get and membership/get; readwrite: also twin/update (desired values).',
          ),
        }),
        {
          default: [{ name: 'app', role: 'readwrite' }],
          description:
            'Accounts of local apps; their passwords derive from the secret in <dataDir>/broker-credentials.',
        },
      ),
      username: Type.Optional(
        Type.String({ description: 'An extra account with this password and the readwrite role.' }),
      ),
      password: Type.Optional(Type.String()),
    }),
    external: Closed({
      url: Type.String({ default: 'mqtt://127.0.0.1:1883' }),
      username: Type.Optional(Type.String()),
      password: Type.Optional(Type.String()),
    }),
  }),
  http: Closed({
    host: Type.String({ default: '127.0.0.1' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 10350 }),
    allowedHosts: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        default: [],
        description:
          'Host header values served besides loopback, the bind host and the address the client connected to: ' +
          '`name` (any port) or `name:port`; `*` turns the check off.',
      }),
    ),
    headersTimeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 10_000,
        description: 'A client must have sent all request headers within this long of connecting (else 408).',
      }),
    ),
    requestTimeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 30_000,
        description:
          'A client must have sent the whole request within this long (else 408); ≥ headersTimeoutMs.',
      }),
    ),
    idleTimeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 5_000,
        description: 'A kept-alive connection with no request in flight is closed after this long.',
      }),
    ),
    maxConnections: Type.Optional(
      Type.Integer({
        minimum: 1,
        default: 256,
        description: 'Connections open at once; further ones are closed at once (and logged).',
      }),
    ),
  }),
  devices: Closed({
    dirs: Type.Array(Type.String(), {
      default: ['./devices'],
      description: 'Device and DeviceModel YAML (standalone).',
    }),
    watch: Type.Boolean({ default: true, description: 'Re-read on change.' }),
  }),
  cloud: Closed({
    enabled: Type.Boolean({
      default: false,
      description: 'Connect to cloudcore (edgetwin join turns it on).',
    }),
    server: Type.String({
      default: '127.0.0.1:10000',
      description: "cloudcore's CloudHub, host:port (WebSocket over TLS, and the join API).",
    }),
    caFile: Type.String({ default: './data/certs/ca.crt', description: "cloudcore's CA (PEM)." }),
    certFile: Type.String({ default: './data/certs/node.crt', description: 'This node (PEM).' }),
    keyFile: Type.String({ default: './data/certs/node.key', description: "This node's key (PEM)." }),
    keepaliveSeconds: Type.Number({
      exclusiveMinimum: 0,
      default: 15,
      description: 'The link is dropped after three of these without a ping from cloudcore.',
    }),
    reconnectMaxSeconds: Type.Number({
      exclusiveMinimum: 0,
      default: 30,
      description: 'Ceiling of the reconnect backoff.',
    }),
  }),
  twin: Closed({
    writeBehindMs: Type.Integer({
      minimum: 0,
      default: 5000,
      description:
        'Reported values that nobody waits on (no subscriber to their update/result) are committed at most ' +
        'this long after they arrive, newest per twin; 0 commits every report before its result, as KubeEdge does.',
    }),
  }),
  mappers: Closed({
    inProcess: Type.Boolean({
      default: true,
      description: 'Run the mappers the devices need inside edgecore.',
    }),
  }),
});
export type EdgeConfig = Static<typeof EdgeConfig>;

/** Defaults of the `http` section (the bounds are optional in the type: a config built in code may omit them). */
export const HTTP_DEFAULTS = {
  host: '127.0.0.1',
  port: 10350,
  allowedHosts: [] as readonly string[],
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 5_000,
  maxConnections: 256,
};

/** The `http` section with every bound filled in. */
export type HttpSettings = typeof HTTP_DEFAULTS;
export function httpSettings(http: EdgeConfig['http']): HttpSettings {
  return { ...HTTP_DEFAULTS, ...definedOnly(http) };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The defaults, then `overrides` on top (deeply), validated. */
export function edgeConfig(overrides: unknown = {}): EdgeConfig {
  const defaults: EdgeConfig = {
    nodeName: 'edge-node-1',
    dataDir: './data',
    eventBus: {
      mode: 'internal',
      internal: {
        host: '127.0.0.1',
        port: 1884,
        auth: 'credentials',
        maxPacketSize: 262_144,
        apps: [{ name: 'app', role: 'readwrite' }],
      },
      external: { url: 'mqtt://127.0.0.1:1883' },
    },
    http: { ...HTTP_DEFAULTS, allowedHosts: [] },
    devices: { dirs: ['./devices'], watch: true },
    cloud: {
      enabled: false,
      server: '127.0.0.1:10000',
      caFile: './data/certs/ca.crt',
      certFile: './data/certs/node.crt',
      keyFile: './data/certs/node.key',
      keepaliveSeconds: 15,
      reconnectMaxSeconds: 30,
    },
    twin: { writeBehindMs: 5000 },
    mappers: { inProcess: true },
  };
  const merged = merge(defaults, overrides) as EdgeConfig;
  const validate = validatorFor(EdgeConfig);
  if (!validate(merged)) {
    const problems = (validate.errors ?? []).map((e) => ({
      path: `${e.instancePath.slice(1).replaceAll('/', '.')}${e.keyword === 'additionalProperties' ? `.${String(e.params.additionalProperty)}` : ''}`,
      message: e.keyword === 'additionalProperties' ? 'unknown field' : (e.message ?? 'is invalid'),
    }));
    throw new DeviceModelError(
      `invalid edge config: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      problems,
    );
  }
  const http = httpSettings(merged.http);
  if (http.headersTimeoutMs > http.requestTimeoutMs)
    throw new DeviceModelError(
      `invalid edge config: http.headersTimeoutMs (${http.headersTimeoutMs}) must not exceed http.requestTimeoutMs (${http.requestTimeoutMs})`,
      [{ path: 'http.headersTimeoutMs', message: 'must not exceed http.requestTimeoutMs' }],
    );
  return merged;
}

/** Reads edge.yaml; a YAML error names its line. */
export async function loadEdgeConfig(file?: string): Promise<EdgeConfig> {
  if (!file) return edgeConfig();
  const doc = parseDocument(await readFile(file, 'utf8'));
  if (doc.errors.length > 0) throw new DeviceModelError(`${file}: ${doc.errors[0]!.message.split('\n')[0]}`);
  try {
    return edgeConfig(doc.toJS() ?? {});
  } catch (error) {
    throw new DeviceModelError(`${file}: ${(error as Error).message}`, (error as DeviceModelError).problems);
  }
}

function merge(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base))
    return over === undefined ? base : over;
  if (typeof over !== 'object' || over === null || Array.isArray(over))
    return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(over)) out[key] = merge(out[key], value);
  return out;
}
