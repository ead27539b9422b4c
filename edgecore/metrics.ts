import { Counter, Gauge, Registry } from 'prom-client';

/** edgecore's Prometheus metrics (GET /metrics). */
export class EdgeMetrics {
  readonly registry = new Registry();
  /** Edge reports counted since the last scrape, added to twinUpdates then (see countEdgeReport). */
  private edgeReports = 0;
  readonly twinUpdates: Counter<'source'> = new Counter({
    name: 'edgetwin_twin_updates_total',
    help: 'Twin updates accepted, by source (edge, cloud, http).',
    labelNames: ['source'],
    registers: [this.registry],
    collect: () => this.addEdgeReports(),
  });
  readonly twinRefused = new Counter({
    name: 'edgetwin_twin_updates_refused_total',
    help: 'Twin updates refused, by result code.',
    labelNames: ['code'],
    registers: [this.registry],
  });
  readonly deltas = new Gauge({
    name: 'edgetwin_twin_delta_properties',
    help: 'Properties whose desired value differs from the reported one.',
    registers: [this.registry],
  });
  readonly outboxDepth = new Gauge({
    name: 'edgetwin_outbox_depth',
    help: 'Cloud-bound twin updates waiting in the outbox.',
    registers: [this.registry],
  });
  readonly cloudConnected = new Gauge({
    name: 'edgetwin_cloud_connected',
    help: '1 while the link to cloudcore is up, 0 while it is down (absent when this node has not joined).',
    registers: [this.registry],
  });
  readonly deviceState = new Gauge({
    name: 'edgetwin_device_state',
    help: '1 for the current state of each device.',
    labelNames: ['device', 'state'],
    registers: [this.registry],
  });
  readonly busRefused = new Counter({
    name: 'edgetwin_eventbus_refused_total',
    help: 'Incoming EventBus messages refused before any handler (bad payload 400, too large 413, handler too far behind 503), by filter and code.',
    labelNames: ['filter', 'code'],
    registers: [this.registry],
  });

  readonly mapperErrors = new Counter({
    name: 'edgetwin_mapper_errors_total',
    help: 'Device reads and writes that failed, by device.',
    labelNames: ['device'],
    registers: [this.registry],
  });

  readonly heapSaver = new Gauge({
    name: 'edgetwin_heap_saver',
    help: "1 while V8's memory saver is on (memory.saver), 0 while it is off.",
    registers: [this.registry],
  });

  setState(device: string, state: string): void {
    for (const s of ['online', 'offline', 'unhealthy', 'ok', 'disconnected', 'unknown'])
      this.deviceState.set({ device, state: s }, s === state ? 1 : 0);
  }

  /**
   * One accepted report of a mapper, as `twinUpdates.inc({source: 'edge'})` counts it, for the path that runs
   * 10,000 times a second on a large edge: a number added to, and to the counter at the next read of it.
   */
  countEdgeReport(): void {
    this.edgeReports++;
  }

  private addEdgeReports(): void {
    if (this.edgeReports === 0) return;
    this.twinUpdates.inc({ source: 'edge' }, this.edgeReports);
    this.edgeReports = 0;
  }
}
