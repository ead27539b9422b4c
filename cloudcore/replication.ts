import { hostname } from 'node:os';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import type { Logger } from '../sdk/logger.js';
import type { CloudHub, CloudHubOptions } from './cloudhub.js';
import { CloudHubMetrics } from './cloudhub-metrics.js';
import { GarbageCollector } from './garbage.js';
import { SecretLedgerStore } from './join-ledger-secret.js';
import { LeaderElection } from './leader.js';
import { Leases } from './lease.js';
import { NodeLeases } from './node-leases.js';
import type { CloudPki } from './pki.js';

/** How cloudcore runs beside other replicas of itself (all optional: the defaults suit one replica or many). */
export interface ReplicaOptions {
  /** This replica in Leases' holderIdentity: unique among the replicas (default `<hostname>-<pid>`). */
  identity?: string;
  /** Namespace of the Leases and of the join ledger Secret (default: the kubeconfig context's, else `default`). */
  namespace?: string;
  /**
   * Where the join ledger (spent tokens, joined nodes) is kept: `kubernetes` (default), the Secret
   * `edgetwin-join-ledger`, shared by every replica (a ledger file found in the PKI directory is carried over
   * into a Secret that does not exist yet); `file`, `<pkiDir>/join-ledger.json`, for one replica only.
   */
  joinLedger?: 'kubernetes' | 'file';
  /** The leader Lease `edgetwin-cloudcore-leader` (its holder runs the garbage collection). */
  leader?: { leaseDurationSeconds?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** Per-node Leases `edgetwin-node-<node>` (the newest connection of a node wins); false: none. */
  nodeLeases?: { leaseDurationSeconds?: number; renewMs?: number } | false;
  garbage?: { intervalMs?: number; staleNodeLeaseMs?: number };
}

export interface ReplicationContext {
  kubeConfig: KubeConfig;
  log: Logger;
  options: ReplicaOptions;
  /** Where the hub's metrics go (cloudcore's /metrics); a registry of its own otherwise. */
  registry?: Registry;
  /** The Device as the DeviceController's cache has it. */
  device(key: string): KubernetesObject | undefined;
}

/**
 * What lets several cloudcore replicas serve one fleet: the join ledger in Kubernetes, node Leases (a node's
 * newest connection wins; an older one on another replica is dropped), and the leader Lease whose holder does
 * the once-only work (garbage collection). Every replica watches Devices and serves the nodes connected to it;
 * none keeps state that Kubernetes does not have.
 */
export class Replication {
  readonly identity: string;
  readonly namespace: string;
  readonly metrics: CloudHubMetrics;
  readonly nodeLeases?: NodeLeases;
  readonly leader: LeaderElection;
  readonly garbage: GarbageCollector;
  private hub?: CloudHub;

  constructor(private readonly ctx: ReplicationContext) {
    const { kubeConfig, log, options } = ctx;
    this.identity = options.identity ?? `${hostname()}-${process.pid}`;
    this.namespace = options.namespace ?? contextNamespace(kubeConfig) ?? 'default';
    this.metrics = new CloudHubMetrics(ctx.registry ?? new Registry());
    if (options.nodeLeases !== false)
      this.nodeLeases = new NodeLeases({
        kubeConfig,
        namespace: this.namespace,
        identity: this.identity,
        log: log.child({ module: 'cloudcore:node-leases' }),
        ...options.nodeLeases,
        lost: (node) => this.hub?.drop(node, 4002, 'the node connected to another cloudcore replica'),
      });
    this.garbage = new GarbageCollector({
      kubeConfig,
      log: log.child({ module: 'cloudcore:garbage' }),
      device: ctx.device,
      ...(this.nodeLeases ? { nodeLeases: new Leases(kubeConfig, this.namespace) } : {}),
      ...options.garbage,
      deleted: (kind, count) => this.metrics.garbage.inc({ kind }, count),
    });
    this.leader = new LeaderElection({
      kubeConfig,
      namespace: this.namespace,
      identity: this.identity,
      log: log.child({ module: 'cloudcore:leader' }),
      ...options.leader,
      onStartedLeading: () => {
        this.metrics.leader.set(1);
        this.garbage.start();
      },
      onStoppedLeading: () => {
        this.metrics.leader.set(0);
        void this.garbage.stop();
      },
    });
  }

  /** Moves the join ledger into Kubernetes, unless told to keep the file. */
  async useLedger(pki: CloudPki): Promise<void> {
    if (this.ctx.options.joinLedger === 'file') return;
    await pki.ledger.useStore(new SecretLedgerStore(this.ctx.kubeConfig, this.namespace));
    this.ctx.log.info({ ledger: pki.ledger.where }, 'join ledger in Kubernetes');
  }

  /** What the CloudHub is given: the node Leases and the metrics. */
  hubOptions(): Pick<CloudHubOptions, 'leases' | 'metrics'> {
    return { ...(this.nodeLeases ? { leases: this.nodeLeases } : {}), metrics: this.metrics };
  }

  /** Starts renewing node Leases and running for leader, once `hub` serves. */
  start(hub: CloudHub): void {
    this.hub = hub;
    this.nodeLeases?.start();
    this.leader.start();
    this.ctx.log.info({ identity: this.identity, namespace: this.namespace }, 'replica running');
  }

  /** Releases the leader Lease (another replica takes over at once) and waits for node Lease writes. */
  async stop(): Promise<void> {
    await this.leader.stop();
    await this.garbage.stop();
    await this.nodeLeases?.stop();
  }
}

function contextNamespace(kubeConfig: KubeConfig): string | undefined {
  const current = kubeConfig.getCurrentContext();
  const namespace = current ? kubeConfig.getContextObject(current)?.namespace : undefined;
  return namespace?.trim() || undefined;
}
