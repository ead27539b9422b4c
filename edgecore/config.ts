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
      username: Type.Optional(Type.String()),
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

/** The defaults, then `overrides` on top (deeply), validated. */
export function edgeConfig(overrides: unknown = {}): EdgeConfig {
  const defaults: EdgeConfig = {
    nodeName: 'edge-node-1',
    dataDir: './data',
    eventBus: {
      mode: 'internal',
      internal: { host: '127.0.0.1', port: 1884 },
      external: { url: 'mqtt://127.0.0.1:1883' },
    },
    http: { host: '127.0.0.1', port: 10350 },
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
