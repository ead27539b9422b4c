import { readFile } from 'node:fs/promises';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { parseDocument } from 'yaml';
import { Closed, DeviceModelError, formatPath, StringEnum } from '../device-models/internal.js';
import { type Violation, validateAgainst } from '../device-models/validate/ajv-problems.js';

/** A string enum with its default (StringEnum has none). */
function Enum<const T extends readonly string[]>(values: T, fallback: T[number], description: string) {
  return Type.Unsafe<T[number]>({ ...StringEnum(values, description), default: fallback });
}

/** edgecore's configuration (edge.yaml). Every field has a default, so no file is needed. */
export const EdgeConfig = Closed({
  nodeName: Type.String({
    minLength: 1,
    default: 'edge-node-1',
    description: 'This gateway, as spec.nodeName names it.',
  }),
  dataDir: Type.String({
    default: './data',
    description: 'Where the twin database (edgetwin.db) and the broker credentials live.',
  }),
  eventBus: Closed(
    {
      mode: Enum(
        ['internal', 'external', 'both'] as const,
        'internal',
        "KubeEdge's mqttMode: the embedded broker (internal), another broker (external), or both.",
      ),
      internal: Closed(
        {
          host: Type.String({
            default: '127.0.0.1',
            description: 'Address the embedded broker listens on (0.0.0.0: every interface).',
          }),
          port: Type.Integer({
            minimum: 0,
            maximum: 65535,
            default: 1884,
            description: "Port of the embedded broker (KubeEdge's internal MQTT port); 0: any free port.",
          }),
          auth: Enum(
            ['credentials', 'none'] as const,
            'credentials',
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
          password: Type.Optional(Type.String({ description: 'The password of that extra account.' })),
        },
        'The embedded broker (aedes), for mode internal or both.',
      ),
      external: Closed(
        {
          url: Type.String({
            default: 'mqtt://127.0.0.1:1883',
            description: 'The other broker (mode external or both), mqtt:// or mqtts://.',
          }),
          username: Type.Optional(Type.String({ description: "edgecore's username on that broker." })),
          password: Type.Optional(Type.String({ description: "edgecore's password on that broker." })),
        },
        'Another MQTT broker (mosquitto, EMQX\u2026), for mode external or both.',
      ),
    },
    "The EventBus: the MQTT broker of the devices' twins, the mappers and local apps.",
  ),
  http: Closed(
    {
      host: Type.String({
        default: '127.0.0.1',
        description: 'Address the HTTP API listens on (see Security before opening it beyond loopback).',
      }),
      port: Type.Integer({
        minimum: 0,
        maximum: 65535,
        default: 10350,
        description: 'Port of the HTTP API; 0: any free port.',
      }),
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
          description:
            'A client must have sent all request headers within this long of connecting (else 408).',
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
    },
    'The HTTP API (devices, twins, desired values, /healthz, /metrics).',
  ),
  devices: Closed(
    {
      dirs: Type.Array(Type.String(), {
        default: ['./devices'],
        description:
          'Directories (or files) of Device and DeviceModel YAML, relative to the current directory.',
      }),
      watch: Type.Boolean({ default: true, description: 'Re-read a file when it changes.' }),
    },
    'Devices from YAML files (standalone, and besides those from the cloud once joined).',
  ),
  cloud: Closed(
    {
      enabled: Type.Boolean({
        default: false,
        description: 'Connect to cloudcore (edgetwin join turns it on).',
      }),
      server: Type.String({
        default: '127.0.0.1:10000',
        description: "cloudcore's CloudHub, host:port (WebSocket over TLS, and the join API).",
      }),
      servers: Type.Optional(
        Type.Array(Type.String({ pattern: '^(\\[[^\\]]+\\]|[^:\\[\\]/]+):\\d{1,5}$' }), {
          default: [],
          description:
            'Several cloudcore replicas, host:port each, used instead of `server` when not empty: the edge starts ' +
            'with one picked at random and, when its link drops, goes on to the next (with backoff once each has ' +
            'been tried). One Service address in `server` needs none of this.',
        }),
      ),
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
    },
    'The link to cloudcore; `edgetwin join` fills it in.',
  ),
  twin: Closed(
    {
      writeBehindMs: Type.Integer({
        minimum: 0,
        default: 5000,
        description:
          'Reported values that nobody waits on (no subscriber to their update/result) are committed at most ' +
          'this long after they arrive, newest per twin; 0 commits every report before its result, as KubeEdge does.',
      }),
      cacheMB: Type.Number({
        exclusiveMinimum: 0,
        maximum: 4096,
        default: 2,
        description:
          "The most SQLite's page cache of the twin store holds, MB (SQLite's own default; better-sqlite3's is 16). " +
          'Appended history fills whatever it is given; 2 MB cost 1,000 devices no CPU against 16.',
      }),
    },
    'The device twin store (SQLite under dataDir).',
  ),
  history: Closed(
    {
      maxPoints: Type.Integer({
        minimum: 0,
        maximum: 1_000_000,
        default: 10_000,
        description:
          'Reported values kept per twin property, the newest (GET /api/v1/devices/{ns}/{name}/twins/{property}/history); ' +
          '0 turns history off.',
      }),
      maxAgeSeconds: Type.Integer({
        minimum: 1,
        default: 86_400,
        description: 'Older reported values are dropped; of this and maxPoints, the smaller bound applies.',
      }),
    },
    'The history of reported values, per twin property, in the twin store.',
  ),
  mappers: Closed(
    {
      inProcess: Type.Boolean({
        default: true,
        description: 'Run the mappers the devices need inside edgecore.',
      }),
      plugins: Type.Array(Type.String({ minLength: 1 }), {
        default: [],
        description:
          'Protocols from other npm packages (e.g. @acme/edgetwin-mapper-foo) or paths, resolved from the directory ' +
          "of this file: each package's default (or `protocol`) export is a registration object, imported at start " +
          'for its schemas; its driver is imported when a device uses the protocol.',
      }),
    },
    'The protocol mappers.',
  ),
  memory: Closed(
    {
      saver: Enum(
        ['auto', 'on', 'off'] as const,
        'auto',
        "V8's memory saver (its --optimize-for-size mode: the heap grows in small steps and is compacted harder, " +
          'for more time in GC). auto: on while the JavaScript heap is under saverHeapMB, off from there until it is ' +
          'back under half of it; on, off: always.',
      ),
      saverHeapMB: Type.Integer({
        minimum: 8,
        maximum: 65_536,
        default: 64,
        description: 'The heap size, MB, above which auto turns the memory saver off.',
      }),
    },
    'How edgecore trades memory for CPU (100 devices: about 10 MB less RSS with the saver on).',
  ),
});
export type EdgeConfig = Static<typeof EdgeConfig>;

/** What edge.yaml with no fields gives: every `default` of the schema (fields without one are left out). */
export function configDefaults(): EdgeConfig {
  return defaultsOf(EdgeConfig) as EdgeConfig;
}

function defaultsOf(schema: TSchema): unknown {
  if (schema.type === 'object' && schema.properties) {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(schema.properties as Record<string, TSchema>)) {
      const value = defaultsOf(child);
      if (value !== undefined) out[key] = value;
    }
    return out;
  }
  return schema.default === undefined ? undefined : structuredClone(schema.default);
}

/** The cloudcore addresses the edge dials, in the order written: `cloud.servers`, else `cloud.server`. */
export function cloudServers(cloud: EdgeConfig['cloud']): string[] {
  return cloud.servers && cloud.servers.length > 0 ? [...cloud.servers] : [cloud.server];
}

/** The `http` section with every bound filled in. */
export type HttpSettings = Required<EdgeConfig['http']>;

/** Defaults of the `http` section (the bounds are optional in the type: a config built in code may omit them). */
export const HTTP_DEFAULTS: Readonly<HttpSettings> = configDefaults().http as HttpSettings;

export function httpSettings(http: EdgeConfig['http']): HttpSettings {
  return { ...HTTP_DEFAULTS, ...definedOnly(http) };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * What is wrong with a whole config (defaults and overrides merged): every schema violation with its path,
 * then the checks across fields.
 */
export function configViolations(config: unknown): Violation[] {
  const violations = validateAgainst(EdgeConfig, config);
  if (violations.length > 0) return violations;
  const http = httpSettings((config as EdgeConfig).http);
  if (http.headersTimeoutMs > http.requestTimeoutMs)
    violations.push({
      path: ['http', 'headersTimeoutMs'],
      message: `must not exceed http.requestTimeoutMs (${http.headersTimeoutMs} > ${http.requestTimeoutMs})`,
    });
  return violations;
}

/** The defaults, then `overrides` on top (deeply), validated. */
export function edgeConfig(overrides: unknown = {}): EdgeConfig {
  const merged = mergeConfig(configDefaults(), overrides) as EdgeConfig;
  const problems = configViolations(merged).map((v) => ({ path: formatPath(v.path), message: v.message }));
  if (problems.length > 0)
    throw new DeviceModelError(
      `invalid edge config: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
      problems,
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

/** `over` on top of `base`, deeply: objects are merged key by key, anything else (lists too) replaced. */
export function mergeConfig(base: unknown, over: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base))
    return over === undefined ? base : over;
  if (typeof over !== 'object' || over === null || Array.isArray(over))
    return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(over)) out[key] = mergeConfig(out[key], value);
  return out;
}
