import { CloudCore } from '../../cloudcore/cloudcore.js';
import type { ReplicaOptions } from '../../cloudcore/replication.js';
import { createCliLogger } from './log.js';
import type { Output } from './output.js';
import { untilSignal } from './signals.js';

export interface CloudCliOptions {
  kubeconfig?: string;
  listen: string;
  pki: string;
  host: string[];
  statusInterval: number;
  apiConcurrency: number;
  statusTarget: string;
  keepalive: number;
  /** `--dashboard` alone (true), or its `host:port`; absent: no dashboard. */
  dashboard?: string | boolean;
  dashboardAllowedHost?: string[];
  replicaId?: string;
  namespace?: string;
  joinLedger: string;
  leaderLease?: number;
  nodeLease?: number;
  /** `--metrics host:port`: /metrics and /healthz; absent: not served. */
  metrics?: string;
}

/** The dashboard's default address: loopback only, so that neither edge nodes nor the network reach it. */
export const DASHBOARD_DEFAULT = { host: '127.0.0.1', port: 10360 };

/**
 * `--dashboard`: alone, the default; `host:port`, `[v6]:port`, or `:port` (on loopback, unlike --listen's `:port`).
 * Undefined when the text is none of these.
 */
export function parseDashboard(value: string | true): { host: string; port: number } | undefined {
  if (value === true) return DASHBOARD_DEFAULT;
  const listen = parseListen(value);
  if (!listen) return undefined;
  return value.startsWith(':') ? { host: DASHBOARD_DEFAULT.host, port: listen.port } : listen;
}

/** `host:port`, `[v6]:port` or `:port`; undefined when it is none of these. */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) return undefined;
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

/** `edgetwin cloud`: cloudcore, until SIGINT/SIGTERM. */
export async function runCloud(options: CloudCliOptions, out: Output): Promise<number> {
  const listen = parseListen(options.listen);
  if (!listen) {
    out.stderr(`edgetwin cloud: --listen ${options.listen}: expected host:port, e.g. 0.0.0.0:10000`);
    return 1;
  }
  if (options.statusTarget !== 'DeviceStatus' && options.statusTarget !== 'Device') {
    out.stderr(`edgetwin cloud: --status-target ${options.statusTarget}: expected DeviceStatus or Device`);
    return 1;
  }
  const dashboard =
    options.dashboard === undefined || options.dashboard === false
      ? undefined
      : parseDashboard(options.dashboard);
  if (options.dashboard !== undefined && options.dashboard !== false && !dashboard) {
    out.stderr(`edgetwin cloud: --dashboard ${options.dashboard}: expected host:port, e.g. 127.0.0.1:10360`);
    return 1;
  }
  if (options.joinLedger !== 'kubernetes' && options.joinLedger !== 'file') {
    out.stderr(`edgetwin cloud: --join-ledger ${options.joinLedger}: expected kubernetes or file`);
    return 1;
  }
  for (const [flag, value] of [
    ['--leader-lease', options.leaderLease],
    ['--node-lease', options.nodeLease],
  ] as const)
    if (value !== undefined && !(Number.isInteger(value) && value >= (flag === '--node-lease' ? 0 : 1))) {
      out.stderr(`edgetwin cloud: ${flag} ${value}: expected whole seconds`);
      return 1;
    }
  if (!(Number.isInteger(options.apiConcurrency) && options.apiConcurrency >= 1)) {
    out.stderr(`edgetwin cloud: --api-concurrency ${options.apiConcurrency}: expected a whole number ≥ 1`);
    return 1;
  }
  const metrics = options.metrics === undefined ? undefined : parseListen(options.metrics);
  if (options.metrics !== undefined && !metrics) {
    out.stderr(`edgetwin cloud: --metrics ${options.metrics}: expected host:port, e.g. :10361`);
    return 1;
  }
  const replication: ReplicaOptions = {
    joinLedger: options.joinLedger,
    ...(options.replicaId ? { identity: options.replicaId } : {}),
    ...(options.namespace ? { namespace: options.namespace } : {}),
    // Renewed and retried in the proportions of the defaults (15 s / 10 s / 2 s; node Leases 40 s / 10 s).
    ...(options.leaderLease
      ? {
          leader: {
            leaseDurationSeconds: options.leaderLease,
            renewDeadlineMs: Math.round((options.leaderLease * 2000) / 3),
            retryPeriodMs: Math.round((options.leaderLease * 2000) / 15),
          },
        }
      : {}),
    ...(options.nodeLease === undefined
      ? {}
      : {
          nodeLeases:
            options.nodeLease === 0
              ? false
              : { leaseDurationSeconds: options.nodeLease, renewMs: options.nodeLease * 250 },
        }),
  };
  const cloud = new CloudCore({
    ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
    pkiDir: options.pki,
    ...listen,
    hosts: options.host,
    statusIntervalMs: options.statusInterval,
    apiConcurrency: options.apiConcurrency,
    statusTarget: options.statusTarget,
    keepaliveMs: options.keepalive * 1000,
    replication,
    ...(metrics ? { metrics } : {}),
    ...(dashboard ? { dashboard: { ...dashboard, allowedHosts: options.dashboardAllowedHost ?? [] } } : {}),
    log: createCliLogger(),
  });
  try {
    await cloud.start();
  } catch (error) {
    out.stderr(`edgetwin cloud: ${(error as Error).message}`);
    return 1;
  }
  out.stderr(`cloudcore: edge nodes connect and join at ${cloud.url}`);
  if (cloud.dashboardUrl) out.stderr(`cloudcore: dashboard at ${cloud.dashboardUrl}/`);
  if (cloud.metricsUrl) out.stderr(`cloudcore: metrics at ${cloud.metricsUrl}/metrics`);
  await untilSignal();
  await cloud.stop();
  return 0;
}
