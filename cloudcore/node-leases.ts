import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { EdgetwinError } from '../device-models/errors.js';
import type { Logger } from '../sdk/logger.js';
import { CONFLICT, describeError, type LeaseRecord, Leases } from './lease.js';

/** The label every node Lease carries (`kubectl get leases -l edgetwin.io/lease=node`). */
export const NODE_LEASE_LABELS = { 'app.kubernetes.io/name': 'edgetwin', 'edgetwin.io/lease': 'node' };

/**
 * The Lease naming the replica that holds `node`'s connection: `edgetwin-node-<node>`, or, for a node name too
 * long to fit a Lease name, its first 200 characters and a hash.
 */
export function nodeLeaseName(node: string): string {
  const name = `edgetwin-node-${node}`;
  if (name.length <= 253) return name;
  const hash = createHash('sha256').update(node).digest('hex').slice(0, 12);
  return `edgetwin-node-${node.slice(0, 200).replace(/[-.]+$/, '')}-${hash}`;
}

export interface NodeLeasesOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  /** This replica, as `holderIdentity` names it. */
  identity: string;
  /** What a node Lease says its holder's claim lasts (default 40 s, as kubelet's node Leases). */
  leaseDurationSeconds?: number;
  /** Each held Lease is renewed this often, ms (default 10 000). */
  renewMs?: number;
  log: Logger;
  /** Another replica took `node`'s Lease: the node connected there since, and its connection here goes. */
  lost(node: string): void;
}

interface Held {
  /** Whether a connection of the node is open here. */
  held: boolean;
  /** Bumped by each acquire: a loss found for an older connection does not close a newer one. */
  generation: number;
  /** The Lease as last written or read here. */
  lease?: LeaseRecord;
  /** Writes of this node's Lease, one after the other. */
  chain: Promise<void>;
}

/**
 * Per-node Leases (coordination.k8s.io/v1, `edgetwin-node-<node>`) naming the replica that holds each node's
 * connection, so that a node connected to two replicas at once (a partition, a half-open socket) keeps only the
 * newer connection: the replica that accepts a connection takes the Lease whoever held it, renews it while the
 * connection lasts, and deletes it when the connection closes; a replica that finds, on renewing, that another
 * has taken it, drops its own connection of that node (`lost`). Every write is based on the resourceVersion read
 * (a lost race is retried, never overwritten blindly). A killed replica's Leases stay until the nodes connect
 * elsewhere, where they are taken over; the leader's garbage collection deletes those of nodes that never do.
 */
export class NodeLeases {
  private readonly leases: Leases;
  private readonly nodes = new Map<string, Held>();
  private readonly durationSeconds: number;
  private timer?: NodeJS.Timeout;

  constructor(private readonly options: NodeLeasesOptions) {
    this.durationSeconds = options.leaseDurationSeconds ?? 40;
    if (!Number.isInteger(this.durationSeconds) || this.durationSeconds < 1)
      throw new EdgetwinError(
        'LEASE_TIMINGS_INVALID',
        `nodeLeases.leaseDurationSeconds ${this.durationSeconds}: must be a whole number ≥ 1`,
      );
    this.leases = new Leases(options.kubeConfig, options.namespace);
  }

  /** Nodes whose Lease this replica holds now (as last written). */
  get held(): string[] {
    return [...this.nodes].filter(([, h]) => h.lease?.holder === this.options.identity).map(([n]) => n);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.renewAll(), this.options.renewMs ?? 10_000);
  }

  /** Stops renewing and waits for the writes in flight (releases asked for before included). Safe twice. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.nodes.values()].map((h) => h.chain));
  }

  /** A connection of `node` opened here: take its Lease. */
  acquire(node: string): void {
    const entry = this.entry(node);
    entry.held = true;
    entry.generation++;
    this.queue(node, () => this.take(node));
  }

  /** The connection of `node` here closed: delete its Lease if this replica still holds it. */
  release(node: string): void {
    const entry = this.nodes.get(node);
    if (!entry) return;
    entry.held = false;
    this.queue(node, async () => {
      const { lease } = entry;
      if (!entry.held && lease?.holder === this.options.identity) {
        await this.leases.delete(lease);
        entry.lease = undefined;
      }
      if (!entry.held) this.nodes.delete(node);
    });
  }

  private entry(node: string): Held {
    let entry = this.nodes.get(node);
    if (!entry) {
      entry = { held: false, generation: 0, chain: Promise.resolve() };
      this.nodes.set(node, entry);
    }
    return entry;
  }

  private queue(node: string, write: () => Promise<void>): void {
    const entry = this.entry(node);
    entry.chain = entry.chain.then(write).catch((error: unknown) => {
      this.options.log.warn({ node, err: describeError(error) }, 'node lease not written');
    });
  }

  /** Takes the Lease, whoever holds it: the newest connection wins. */
  private async take(node: string): Promise<void> {
    const entry = this.entry(node);
    const name = nodeLeaseName(node);
    for (let tries = 0; tries < 5 && entry.held; tries++) {
      const now = new Date();
      const current = await this.leases.get(name);
      const previous = current?.holder;
      const spec = {
        holder: this.options.identity,
        durationSeconds: this.durationSeconds,
        acquireTime: now,
        renewTime: now,
        transitions: (current?.transitions ?? 0) + (previous && previous !== this.options.identity ? 1 : 0),
      };
      const written = current
        ? await this.leases.replace(current, spec)
        : await this.leases.create(name, spec, NODE_LEASE_LABELS);
      if (written === CONFLICT) continue;
      entry.lease = written;
      if (previous && previous !== this.options.identity)
        this.options.log.info({ node, from: previous }, 'node lease taken over');
      return;
    }
  }

  private renewAll(): void {
    for (const [node, entry] of this.nodes)
      if (entry.held) {
        const generation = entry.generation;
        this.queue(node, () => this.renew(node, entry, generation));
      }
  }

  private async renew(node: string, entry: Held, generation: number): Promise<void> {
    if (!entry.held) return;
    const { lease } = entry;
    if (lease?.holder !== this.options.identity) return this.take(node);
    const written = await this.leases.replace(lease, {
      holder: this.options.identity,
      durationSeconds: this.durationSeconds,
      acquireTime: lease.acquireTime ?? new Date(),
      renewTime: new Date(),
      transitions: lease.transitions,
    });
    if (written !== CONFLICT) {
      entry.lease = written;
      return;
    }
    // Changed meanwhile: taken by another replica (the node connected there since), or deleted.
    const now = await this.leases.get(lease.name);
    if (!now) return this.take(node);
    entry.lease = now;
    if (now.holder === this.options.identity) return;
    if (entry.held && entry.generation === generation) {
      // Not renewed (nor taken back) from now on: the connection here is on its way out.
      entry.held = false;
      this.options.log.info({ node, holder: now.holder }, 'node connected to another replica since');
      this.options.lost(node);
    }
  }
}
