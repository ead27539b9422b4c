import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RequestSlots } from './request-slots.js';

/**
 * cloudcore's Prometheus metrics, in one registry (served by cloudcore's HTTP endpoint; nothing here listens).
 * Modules take the object optionally and count into it; a module without one counts nothing.
 */
export class CloudMetrics {
  readonly registry = new Registry();

  // --- Device status (StatusWriter) ---
  readonly statusReports = new Counter({
    name: 'edgetwin_cloudcore_status_reports_total',
    help: 'Twin and state reports from edge nodes taken by the status writer, by type (twins, state).',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly reportsCoalesced = new Counter({
    name: 'edgetwin_cloudcore_status_reports_coalesced_total',
    help: 'Reports merged into a status write already pending for their device (they cost no write of their own).',
    registers: [this.registry],
  });
  readonly statusUnchanged = new Counter({
    name: 'edgetwin_cloudcore_status_unchanged_total',
    help: 'Pending writes left out because their reports changed nothing Kubernetes holds.',
    registers: [this.registry],
  });
  readonly statusPatches = new Counter({
    name: 'edgetwin_cloudcore_status_patches_total',
    help:
      'Status writes sent to the API server, by kind written (DeviceStatus, Device), concern (twins, state, ' +
      'device: the state copied to Device.status, all: one merge patch) and result (ok, conflict, error).',
    labelNames: ['kind', 'concern', 'result'],
    registers: [this.registry],
  });
  readonly statusWriteSeconds = new Histogram({
    name: 'edgetwin_cloudcore_status_write_seconds',
    help: 'How long one status write took at the API server, by kind and concern.',
    labelNames: ['kind', 'concern'],
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly reportToStatusSeconds = new Histogram({
    name: 'edgetwin_cloudcore_status_report_delay_seconds',
    help:
      'From the oldest report a status write carries reaching cloudcore to that write being done (the coalescing ' +
      'interval plus the API server).',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  private statusSlots?: RequestSlots;
  readonly statusInFlight: Gauge = new Gauge({
    name: 'edgetwin_cloudcore_status_writes_in_flight',
    help: 'Status writes at the API server now (bounded by --api-concurrency).',
    registers: [this.registry],
    collect: () => this.statusInFlight.set(this.statusSlots?.inFlight ?? 0),
  });
  readonly statusQueued: Gauge = new Gauge({
    name: 'edgetwin_cloudcore_status_writes_queued',
    help: 'Devices whose status write waits for a slot (their reports keep merging into it meanwhile).',
    registers: [this.registry],
    collect: () => this.statusQueued.set(this.statusSlots?.queued ?? 0),
  });

  /** The status writer's slots, read at each scrape. */
  watchStatusSlots(slots: RequestSlots): void {
    this.statusSlots = slots;
  }

  // --- Kubernetes Events (DeviceEvents) ---
  readonly events = new Counter({
    name: 'edgetwin_cloudcore_events_total',
    help:
      'Device Events, by reason and result: created, aggregated (counted on an Event already there), updated (its ' +
      'count written), dropped (rate limit), failed.',
    labelNames: ['reason', 'result'],
    registers: [this.registry],
  });

  // Per-node connection state and the outbox depth edges report belong to the CloudHub and are added beside
  // these (same registry, `edgetwin_cloudcore_` prefix).

  /** The sum of a counter over the series whose labels match `labels` (for tests and benchmarks). */
  static async sum(counter: Counter, labels: Record<string, string> = {}): Promise<number> {
    const { values } = await counter.get();
    return values
      .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
      .reduce((total, v) => total + v.value, 0);
  }
}
