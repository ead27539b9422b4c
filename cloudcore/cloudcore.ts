import { KubeConfig } from '@kubernetes/client-node';
import { compareResourceVersions } from '../device-models/internal.js';
import { type Logger, silentLogger } from '../sdk/internal.js';
import { CloudHub } from './cloudhub.js';
import { DeviceController, type NodeDevice } from './device-controller.js';
import type { NodeObject } from './node-session.js';
import { CloudPki } from './pki.js';
import { StatusWriter } from './status-writer.js';

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
  /**
   * Where twins go: `DeviceStatus` (the default; Device.status on a cluster without a DeviceStatus resource, as
   * with KubeEdge's CRDs), or `Device` for Device.status. Whether the /status subresource exists is discovered.
   */
  statusTarget?: 'DeviceStatus' | 'Device';
  keepaliveMs?: number;
  resendMs?: number;
  log?: Logger;
}

/**
 * The cloud process (DESIGN.md §7): the DeviceController watches Devices and DeviceModels and hands each
 * device to the CloudHub for its node; the edge's twin reports and states come back through the StatusWriter
 * as DeviceStatus patches. cloudcore keeps no state of its own beyond caches of what Kubernetes holds.
 */
export class CloudCore {
  private hub?: CloudHub;
  private controller?: DeviceController;
  private status?: StatusWriter;
  private stopped = false;

  constructor(private readonly options: CloudCoreOptions) {}

  /** `host:port` edge nodes connect (and join) to. */
  get url(): string {
    return this.hub?.url ?? '';
  }

  get cloudHub(): CloudHub | undefined {
    return this.hub;
  }

  async start(): Promise<void> {
    const { options } = this;
    const log = (options.log ?? silentLogger).child({ module: 'cloudcore' });
    const kubeConfig = new KubeConfig();
    if (options.kubeconfig) kubeConfig.loadFromFile(options.kubeconfig);
    else kubeConfig.loadFromDefault();
    try {
      const pki = await CloudPki.open(options.pkiDir, { hosts: options.hosts ?? [] });
      this.controller = new DeviceController({
        kubeConfig,
        log: log.child({ module: 'cloudcore:devices' }),
        sink: {
          upsert: (node, entry) => this.hub?.upsert(node, toNodeObject(entry)),
          remove: (node, key, resourceVersion) => this.hub?.remove(node, key, resourceVersion),
        },
      });
      this.status = new StatusWriter({
        kubeConfig,
        log: log.child({ module: 'cloudcore:status' }),
        intervalMs: options.statusIntervalMs ?? 500,
        target: options.statusTarget ?? 'DeviceStatus',
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
      log.info({ url: this.hub.url }, 'cloudcore started');
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Safe twice. Pending status patches are written first. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.hub?.stop();
    await this.controller?.stop();
    await this.status?.stop();
  }
}

/**
 * What goes to the edge, versioned by the newer resourceVersion of the Device and its model (a model change
 * must reach the edge as a newer object too): the objects without what only the API server needs (status, managedFields,
 * kubectl's last-applied annotation), so they validate like YAML files and stay small.
 */
export function toNodeObject(entry: NodeDevice): NodeObject {
  const trim = (object: { apiVersion?: string; kind?: string; metadata?: object; spec?: unknown }) => {
    const { name, namespace, labels } = (object.metadata ?? {}) as Record<string, unknown>;
    return {
      apiVersion: object.apiVersion,
      kind: object.kind,
      metadata: { name, namespace, ...(labels ? { labels } : {}) },
      spec: object.spec,
    };
  };
  // etcd's revision grows with every write, so the newer of the two versions grows when either object changes.
  const modelVersion = (entry.model.metadata as { resourceVersion?: unknown }).resourceVersion;
  const newer =
    typeof modelVersion === 'string' && compareResourceVersions(modelVersion, entry.resourceVersion) > 0
      ? modelVersion
      : entry.resourceVersion;
  return {
    key: entry.key,
    resourceVersion: newer,
    content: { device: trim(entry.device), model: trim(entry.model) },
  };
}
