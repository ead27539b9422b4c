import type { EdgeConfig } from '../../edgecore/config.js';

/**
 * The edge.yaml `edgetwin join` wrote, made fit for a test's edgecore: its broker and HTTP API on ports the system
 * picks (loopback), no device directories, and `cloud` laid over what join wrote (servers, keepalive…). With
 * `inProcessMappers: false` no mapper runs in it; with `writeBehindMs` reported values are written that soon.
 */
export function joinedEdgeConfig(
  joined: EdgeConfig,
  cloud: Partial<NonNullable<EdgeConfig['cloud']>>,
  options: { inProcessMappers?: false; writeBehindMs?: number } = {},
): EdgeConfig {
  return {
    ...joined,
    eventBus: { ...joined.eventBus, internal: { ...joined.eventBus.internal, port: 0 } },
    http: { host: '127.0.0.1', port: 0 },
    devices: { dirs: [], watch: false },
    ...(options.inProcessMappers === false ? { mappers: { ...joined.mappers, inProcess: false } } : {}),
    ...(options.writeBehindMs !== undefined
      ? { twin: { ...joined.twin, writeBehindMs: options.writeBehindMs } }
      : {}),
    cloud: { ...joined.cloud, ...cloud },
  };
}
