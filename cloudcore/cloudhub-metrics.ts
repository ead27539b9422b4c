import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * What a cloudcore replica says of its edge nodes and of its leadership, on a registry it is given (CloudMetrics'
 * in metrics.ts: cloudcore's /metrics). Per node, as this replica sees it: summed or maxed over the replicas (`max by (node)`), the
 * connection gauge says whether the node is connected anywhere.
 */
export class CloudHubMetrics {
  /** 1 while the node is connected to this replica; 0 once it has left (it may be connected to another). */
  readonly nodeConnected: Gauge<'node'>;
  /** What the node last said its outbox holds (keepalive); absent while it is not connected here. */
  readonly outboxDepth: Gauge<'node'>;
  readonly connects: Counter<'node'>;
  /** 1 while this replica holds the leader Lease. */
  readonly leader: Gauge;
  readonly garbage: Counter<'kind'>;

  constructor(readonly registry: Registry) {
    const registers = [registry];
    this.nodeConnected = new Gauge({
      name: 'edgetwin_cloudcore_node_connected',
      help: '1 while the edge node is connected to this cloudcore replica, 0 after it left (max over replicas: connected anywhere).',
      labelNames: ['node'],
      registers,
    });
    this.outboxDepth = new Gauge({
      name: 'edgetwin_cloudcore_node_outbox_depth',
      help: 'Twin reports waiting in the edge node outbox, as the node last said (keepalive); only while connected here.',
      labelNames: ['node'],
      registers,
    });
    this.connects = new Counter({
      name: 'edgetwin_cloudcore_node_connects_total',
      help: 'Connections of each edge node accepted by this replica (reconnects and failovers count).',
      labelNames: ['node'],
      registers,
    });
    this.leader = new Gauge({
      name: 'edgetwin_cloudcore_leader',
      help: '1 while this replica holds the edgetwin-cloudcore-leader Lease (it runs the once-only work).',
      registers,
    });
    this.leader.set(0);
    this.garbage = new Counter({
      name: 'edgetwin_cloudcore_garbage_deleted_total',
      help: 'Objects deleted by the leader garbage collection, by kind (DeviceStatus of a deleted Device, stale node Lease).',
      labelNames: ['kind'],
      registers,
    });
  }

  connected(node: string): void {
    this.nodeConnected.set({ node }, 1);
    this.connects.inc({ node });
  }

  disconnected(node: string): void {
    this.nodeConnected.set({ node }, 0);
    this.outboxDepth.remove({ node });
  }

  keepalive(node: string, outboxDepth: number | undefined): void {
    if (outboxDepth !== undefined) this.outboxDepth.set({ node }, outboxDepth);
  }
}
