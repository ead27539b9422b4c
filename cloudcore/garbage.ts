import { CustomObjectsApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { API_GROUP } from '../device-models/index.js';
import type { Logger } from '../sdk/logger.js';
import { describeError, type Leases, statusOf } from './lease.js';
import { NODE_LEASE_LABELS } from './node-leases.js';

const VERSION = 'v1beta1';
const PAGE = 500;

export interface GarbageCollectorOptions {
  kubeConfig: KubeConfig;
  log: Logger;
  /** The Device as the DeviceController's cache has it: a shortcut only, Kubernetes is asked before a delete. */
  device?(key: string): KubernetesObject | undefined;
  /** Where the node Leases are, to delete those nobody has renewed for `staleNodeLeaseMs`. */
  nodeLeases?: Leases;
  /** A sweep at start, then one every this many ms (default 300 000). */
  intervalMs?: number;
  /** A node Lease not renewed for this long is deleted (default 3 600 000: one hour). */
  staleNodeLeaseMs?: number;
  /** Told how many objects of a kind a sweep deleted (metrics). */
  deleted?(kind: 'DeviceStatus' | 'Lease', count: number): void;
}

export interface SweepResult {
  deviceStatuses: number;
  nodeLeases: number;
}

type Owner = { apiVersion?: string; kind?: string; name?: string; uid?: string };
type Dependent = KubernetesObject & { metadata: { ownerReferences?: Owner[] } };

/**
 * The once-only clean-up that Kubernetes' garbage collector (kube-controller-manager) would do for cloudcore's
 * objects, run by the leader only: DeviceStatuses whose every owner Device is gone (deleted, or deleted and
 * made again, which is another object with another uid) are deleted, as ownerReferences say they should be,
 * on clusters that run no garbage collector; and node Leases left by a replica that was killed, for nodes
 * that never connected again. A DeviceStatus with no Device owner is not cloudcore's to judge and is left
 * alone. Deletes carry the uid or resourceVersion they were decided on, so an object changed meanwhile stays.
 */
export class GarbageCollector {
  private readonly api: CustomObjectsApi;
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<SweepResult>;
  private running = false;
  private term = 0;
  /** Objects deleted so far, and sweeps made. */
  deleted = 0;
  sweeps = 0;

  constructor(private readonly options: GarbageCollectorOptions) {
    this.api = options.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** Sweeps now, then every interval, until stop(). Safe twice. */
  start(): void {
    if (this.running) return;
    this.running = true;
    // A stop and a start while a sweep is in flight: only the newest start schedules the next sweep.
    const term = ++this.term;
    const next = () => {
      if (!this.running || term !== this.term) return;
      void this.sweep().finally(() => {
        if (this.running && term === this.term)
          this.timer = setTimeout(next, this.options.intervalMs ?? 300_000);
      });
    };
    next();
  }

  /** Stops sweeping; resolves once a sweep in flight has ended. Safe twice. */
  async stop(): Promise<void> {
    this.running = false;
    this.term++;
    clearTimeout(this.timer);
    await this.sweeping?.catch(() => {});
  }

  /** One sweep (or the one in flight); never rejects: a failure is logged, and the next sweep tries again. */
  sweep(): Promise<SweepResult> {
    this.sweeping ??= this.collect()
      .catch((error: unknown) => {
        this.options.log.warn({ err: describeError(error) }, 'garbage collection failed');
        return { deviceStatuses: 0, nodeLeases: 0 };
      })
      .finally(() => {
        this.sweeping = undefined;
      });
    return this.sweeping;
  }

  private async collect(): Promise<SweepResult> {
    const result = { deviceStatuses: await this.deviceStatuses(), nodeLeases: await this.staleNodeLeases() };
    this.sweeps++;
    this.deleted += result.deviceStatuses + result.nodeLeases;
    this.options.deleted?.('DeviceStatus', result.deviceStatuses);
    this.options.deleted?.('Lease', result.nodeLeases);
    if (result.deviceStatuses + result.nodeLeases > 0) this.options.log.info(result, 'garbage collected');
    return result;
  }

  private async deviceStatuses(): Promise<number> {
    let deleted = 0;
    let token: string | undefined;
    do {
      let page: { items: Dependent[]; metadata?: { continue?: string } };
      try {
        page = (await this.api.listClusterCustomObject({
          group: API_GROUP,
          version: VERSION,
          plural: 'devicestatuses',
          limit: PAGE,
          ...(token ? { _continue: token } : {}),
        })) as typeof page;
      } catch (error) {
        if (statusOf(error) === 404) return deleted; // no DeviceStatus resource here (KubeEdge's CRD set)
        throw error;
      }
      for (const status of page.items) if (await this.orphaned(status)) deleted += await this.remove(status);
      token = page.metadata?.continue || undefined;
    } while (token);
    return deleted;
  }

  /** Whether `status` has Device owners and every one of them is gone. */
  private async orphaned(status: Dependent): Promise<boolean> {
    const owners = status.metadata.ownerReferences ?? [];
    if (owners.length === 0) return false;
    if (!owners.every((o) => o.kind === 'Device' && o.apiVersion?.startsWith(`${API_GROUP}/`))) return false;
    for (const owner of owners) if (await this.alive(status.metadata.namespace ?? '', owner)) return false;
    return true;
  }

  private async alive(namespace: string, owner: Owner): Promise<boolean> {
    const name = owner.name ?? '';
    if (this.options.device?.(`${namespace}/${name}`)?.metadata?.uid === owner.uid) return true;
    try {
      const device = (await this.api.getNamespacedCustomObject({
        group: API_GROUP,
        version: VERSION,
        namespace,
        plural: 'devices',
        name,
      })) as KubernetesObject;
      return device.metadata?.uid === owner.uid;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  private async remove(status: Dependent): Promise<number> {
    const { name = '', namespace = '', uid } = status.metadata;
    try {
      await this.api.deleteNamespacedCustomObject({
        group: API_GROUP,
        version: VERSION,
        namespace,
        plural: 'devicestatuses',
        name,
        body: { preconditions: { uid } },
      });
    } catch (error) {
      if (statusOf(error) === 404 || statusOf(error) === 409) return 0; // gone, or another object now
      throw error;
    }
    this.options.log.info({ key: `${namespace}/${name}` }, 'DeviceStatus of a deleted Device deleted');
    return 1;
  }

  private async staleNodeLeases(): Promise<number> {
    const { nodeLeases } = this.options;
    if (!nodeLeases) return 0;
    const staleBefore = Date.now() - (this.options.staleNodeLeaseMs ?? 3_600_000);
    const selector = Object.entries(NODE_LEASE_LABELS)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    let deleted = 0;
    for (const lease of await nodeLeases.list(selector)) {
      const renewed = (lease.renewTime ?? lease.acquireTime)?.getTime() ?? 0;
      if (renewed < staleBefore && (await nodeLeases.delete(lease))) {
        this.options.log.info({ lease: lease.name, holder: lease.holder }, 'stale node lease deleted');
        deleted++;
      }
    }
    return deleted;
  }
}
