import type { KubeConfig } from '@kubernetes/client-node';
import { type Logger, silentLogger } from '../sdk/internal.js';
import { CloudHub } from './cloudhub.js';
import type { DashboardApi } from './dashboard-api.js';
import { DeviceController } from './device-controller.js';
import { SharedAgentKubeConfig } from './kube-config.js';
import { CloudMetrics } from './metrics.js';
import { type MetricsServer, startMetricsServer } from './metrics-server.js';
import { toNodeObject } from './node-object.js';
import { CloudPki } from './pki.js';
import { type ReplicaOptions, Replication } from './replication.js';
import { StatusWriter } from './status-writer.js';

export { toNodeObject } from './node-object.js';

/** cloudcore's dashboard API (cloudcore/dashboard-api.ts): its own HTTP listener, not the CloudHub's port. */
export interface CloudDashboardOptions {
  /** Loopback (`127.0.0.1`) unless the dashboard must be reached from elsewhere; port 0 picks a free one. */
  host: string;
  port: number;
  /** Host names it answers to besides the loopback ones and `host` (the DNS-rebinding guard); `*`: any. */
  allowedHosts?: string[];
  /** The dashboard's static files; default: the built dashboard (dist/edgecore/dashboard/public/). */
  staticDir?: string;
  heartbeatMs?: number;
}

export interface CloudCoreOptions {
  /** A kubeconfig file; without one, the usual places (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  /** Where the CA, the server certificate and their keys live (created on first start). */
  pkiDir: string;
  /** CloudHub's address; port 0 picks a free one. */
  host: string;
  port: number;
  /** Extra names/addresses for the server certificate (what edge nodes dial). */
  hosts?: string[];
  /** At most one status patch per device per this many ms. */
  statusIntervalMs?: number;
  /** Status writes in flight at the API server at most (default 32). */
  apiConcurrency?: number;
  /**
   * Where twins go: `DeviceStatus` (the default; Device.status on a cluster without a DeviceStatus resource, as
   * with KubeEdge's CRDs), or `Device` for Device.status. Whether the /status subresource exists is discovered.
   */
  statusTarget?: 'DeviceStatus' | 'Device';
  keepaliveMs?: number;
  resendMs?: number;
  /** Replica identity, Lease timings, where the join ledger lives (replication.ts); the defaults suit one or many. */
  replication?: ReplicaOptions;
  /** Serve `/metrics` (Prometheus) and `/healthz` on this address (port 0: a free one); off when absent. */
  metrics?: { host: string; port: number };
  /** Serve the dashboard and its API across every node from Kubernetes; off when absent. */
  dashboard?: CloudDashboardOptions;
  log?: Logger;
}

/**
 * Every Kubernetes API call cloudcore makes must be listed in deploy/kubernetes/permissions.yaml:
 * test/k8s/deploy.test.ts runs cloudcore with only those rights.
 *
 * The cloud process (DESIGN.md §7): the DeviceController watches Devices and DeviceModels and hands each
 * device to the CloudHub for its node; the edge's twin reports and states come back through the StatusWriter
 * as DeviceStatus patches. cloudcore keeps no state of its own beyond caches of what Kubernetes holds.
 */
export class CloudCore {
  private hub?: CloudHub;
  private controller?: DeviceController;
  private status?: StatusWriter;
  private dashboard?: DashboardApi;
  private replicas?: Replication;
  private metricsServer?: MetricsServer;
  private ready = false;
  private stopped = false;
  /** Status writes, reports coalesced, edge connections and outbox depths, leadership (served by `metrics`). */
  readonly metrics = new CloudMetrics();

  constructor(private readonly options: CloudCoreOptions) {}

  /** `host:port` edge nodes connect (and join) to. */
  get url(): string {
    return this.hub?.url ?? '';
  }

  get cloudHub(): CloudHub | undefined {
    return this.hub;
  }

  /** This replica among the others: its identity, the leader election, the node Leases. */
  get replication(): Replication | undefined {
    return this.replicas;
  }

  /** `http://host:port` of `/metrics` and `/healthz`, when configured. */
  get metricsUrl(): string | undefined {
    return this.metricsServer?.url;
  }

  /** `http://host:port` of the dashboard and its API, when configured. */
  get dashboardUrl(): string | undefined {
    return this.dashboard?.url;
  }

  async start(): Promise<void> {
    const { options } = this;
    const log = (options.log ?? silentLogger).child({ module: 'cloudcore' });
    const kubeConfig = new SharedAgentKubeConfig();
    if (options.kubeconfig) kubeConfig.loadFromFile(options.kubeconfig);
    else kubeConfig.loadFromDefault();
    try {
      const pki = await CloudPki.open(options.pkiDir, { hosts: options.hosts ?? [] });
      this.replicas = new Replication({
        kubeConfig,
        log,
        options: options.replication ?? {},
        registry: this.metrics.registry,
        device: (key) => this.controller?.device(key),
      });
      await this.replicas.useLedger(pki);
      this.controller = new DeviceController({
        kubeConfig,
        log: log.child({ module: 'cloudcore:devices' }),
        sink: {
          upsert: (node, entry) => this.hub?.upsert(node, toNodeObject(entry)),
          remove: (node, key, resourceVersion) => this.hub?.remove(node, key, resourceVersion),
        },
        // A deleted Device's pending status is forgotten, not written (nor kept) afterwards.
        deleted: (key) => this.status?.forget(key),
      });
      this.status = new StatusWriter({
        kubeConfig,
        log: log.child({ module: 'cloudcore:status' }),
        intervalMs: options.statusIntervalMs ?? 500,
        ...(options.apiConcurrency !== undefined ? { maxInFlight: options.apiConcurrency } : {}),
        target: options.statusTarget ?? 'DeviceStatus',
        metrics: this.metrics,
        device: (key) => this.controller?.device(key),
      });
      const controller = this.controller;
      const status = this.status;
      this.hub = new CloudHub({
        pki,
        log: log.child({ module: 'cloudcore:hub' }),
        host: options.host,
        port: options.port,
        keepaliveMs: options.keepaliveMs ?? 15_000,
        resendMs: options.resendMs ?? 5_000,
        ...this.replicas.hubOptions(),
        handlers: {
          devicesOf: (node) => controller.devicesOf(node).map(toNodeObject),
          nodeOf: (key) => controller.device(key)?.spec?.nodeName || undefined,
          twins: (key, twins) => status.reportTwins(key, twins),
          state: (key, state) => status.reportState(key, state.state, state.lastOnlineTime),
        },
      });
      // Discovery first: on a cluster without the device CRDs it names what is missing.
      await this.status.start();
      await this.controller.start();
      await this.hub.start();
      this.replicas.start(this.hub);
      if (options.dashboard) await this.startDashboard(kubeConfig, options.dashboard, log);
      if (options.metrics)
        this.metricsServer = await startMetricsServer({
          ...options.metrics,
          registry: this.metrics.registry,
          health: () => (this.stopped ? 'stopping' : this.ready ? undefined : 'starting'),
        });
      this.ready = true;
      log.info({ url: this.hub.url, dashboard: this.dashboard?.url }, 'cloudcore started');
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Safe twice. Pending status patches are written first. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.metricsServer?.close();
    await this.dashboard?.close();
    await this.hub?.stop();
    await this.replicas?.stop();
    await this.controller?.stop();
    await this.status?.stop();
  }

  /** Loaded only when configured: a cloudcore without the dashboard never loads Fastify. */
  private async startDashboard(kubeConfig: KubeConfig, options: CloudDashboardOptions, log: Logger) {
    const { startDashboardApi } = await import('./dashboard-api.js');
    const hub = this.hub;
    this.dashboard = await startDashboardApi({
      ...options,
      kubeConfig,
      log: log.child({ module: 'cloudcore:dashboard' }),
      // Read where the StatusWriter writes.
      ...(this.status?.statusMode ? { statusKind: this.status.statusMode.kind } : {}),
      connectedNodes: () => hub?.nodes ?? [],
    });
  }
}
