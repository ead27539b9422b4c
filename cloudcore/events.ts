import { hostname } from 'node:os';
import { CoreV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { API_VERSION } from '../device-models/index.js';
import type { Logger } from '../sdk/logger.js';
import type { CloudMetrics } from './metrics.js';
import { apiErrorCode, describeApiError } from './status-api.js';

/**
 * Kubernetes Events about Devices (core/v1 Events, which `kubectl describe device` and `kubectl get events`
 * show), deduplicated and rate-limited as client-go's EventRecorder does, so that a flapping device cannot
 * flood the API server:
 * - the same event (device, type, reason, message) again within `windowMs` is counted on the Event already
 *   there (`count`, `lastTimestamp`), and that count is written at most once per `updateMs`;
 * - new Events per device come from a token bucket (`burst`, one more every `refillMs`); beyond it they are
 *   dropped (and counted in the metrics);
 * - at most `maxTracked` events are remembered, the oldest forgotten first.
 * Writing an Event never fails its caller: a failure is logged and counted.
 */

export interface EventLimits {
  /** A repeat within this many ms counts on the existing Event (default 10 min). */
  windowMs: number;
  /** At most one count update per Event per this many ms (default 30 s). */
  updateMs: number;
  /** New Events a device may have at once (default 25)… */
  burst: number;
  /** …and one more every this many ms (default 5 min): client-go's spam filter. */
  refillMs: number;
  /** Events remembered for deduplication (default 10 000). */
  maxTracked: number;
}

const DEFAULT_LIMITS: EventLimits = {
  windowMs: 600_000,
  updateMs: 30_000,
  burst: 25,
  refillMs: 300_000,
  maxTracked: 10_000,
};

export interface DeviceEventsContext {
  kubeConfig: KubeConfig;
  log: Logger;
  metrics?: CloudMetrics;
  /** `source.component` and `reportingComponent` (default `edgetwin-cloudcore`). */
  component?: string;
  /** `reportingInstance` and `source.host`: which replica (default the host name). */
  instance?: string;
  limits?: Partial<EventLimits>;
}

/** The Device an Event is about (`uid` lets `kubectl describe` find it). */
export interface DeviceRef {
  namespace: string;
  name: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

interface Tracked {
  device: string;
  ref: DeviceRef;
  type: EventType;
  reason: string;
  message: string;
  /** The Event's name once created. */
  name?: string;
  count: number;
  /** The count the API server has. */
  written: number;
  first: Date;
  last: Date;
  lastWriteAt: number;
  timer?: NodeJS.Timeout;
  flight: Promise<void>;
}

const MAX_MESSAGE = 1024;
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class DeviceEvents {
  private readonly api: CoreV1Api;
  private readonly limits: EventLimits;
  private readonly component: string;
  private readonly instance: string;
  private readonly tracked = new Map<string, Tracked>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly flights = new Set<Promise<void>>();
  private stopped = false;
  private forbiddenLogged = false;

  constructor(private readonly ctx: DeviceEventsContext) {
    this.api = ctx.kubeConfig.makeApiClient(CoreV1Api);
    this.limits = { ...DEFAULT_LIMITS, ...ctx.limits };
    this.component = ctx.component ?? 'edgetwin-cloudcore';
    this.instance = ctx.instance ?? hostname();
  }

  /** Records an event about a Device (asynchronously; see settled()). */
  emit(ref: DeviceRef, type: EventType, reason: string, message: string): void {
    if (this.stopped) return;
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
    const device = `${ref.namespace}/${ref.name}`;
    const key = [device, ref.uid ?? '', type, reason, text].join('\u0000');
    const now = new Date();
    const seen = this.tracked.get(key);
    if (seen && now.getTime() - seen.last.getTime() < this.limits.windowMs) {
      seen.count++;
      seen.last = now;
      this.ctx.metrics?.events.inc({ reason, result: 'aggregated' });
      this.scheduleUpdate(seen);
      return;
    }
    if (!this.take(device, now.getTime())) {
      this.ctx.metrics?.events.inc({ reason, result: 'dropped' });
      this.ctx.log.debug({ device, reason }, 'event dropped: too many for this device');
      return;
    }
    if (seen) this.untrack(key, seen);
    const entry: Tracked = {
      device,
      ref,
      type,
      reason,
      message: text,
      count: 1,
      written: 0,
      first: now,
      last: now,
      lastWriteAt: 0,
      flight: Promise.resolve(),
    };
    this.tracked.set(key, entry);
    this.evict();
    this.write(entry);
  }

  /** Forgets a device (deleted): its events are no longer counted, and its rate limit starts afresh. */
  forget(device: string): void {
    for (const [key, entry] of this.tracked) if (entry.device === device) this.untrack(key, entry);
    this.buckets.delete(device);
  }

  /** Writes the counts still waiting for their interval now, and resolves once every Event write is done. */
  async flush(): Promise<void> {
    for (const entry of this.tracked.values()) {
      if (!entry.timer) continue;
      clearTimeout(entry.timer);
      entry.timer = undefined;
      this.write(entry);
    }
    while (this.flights.size > 0) await Promise.all([...this.flights]);
  }

  /** Flushes, then takes no more; leaves no timer. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.flush();
  }

  private take(device: string, now: number): boolean {
    const { burst, refillMs } = this.limits;
    const bucket = this.buckets.get(device) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + (now - bucket.at) / refillMs);
    bucket.at = now;
    this.buckets.delete(device); // re-inserted: the map's order is least recently used first
    this.buckets.set(device, bucket);
    while (this.buckets.size > this.limits.maxTracked) {
      const oldest = this.buckets.keys().next().value;
      if (oldest === undefined) break;
      this.buckets.delete(oldest);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private untrack(key: string, entry: Tracked): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    this.tracked.delete(key);
  }

  private evict(): void {
    for (const [key, entry] of this.tracked) {
      if (this.tracked.size <= this.limits.maxTracked) return;
      if (entry.timer) this.write(entry); // its count first
      this.untrack(key, entry);
    }
  }

  private scheduleUpdate(entry: Tracked): void {
    if (entry.timer || this.stopped) return;
    const wait = Math.max(0, entry.lastWriteAt + this.limits.updateMs - Date.now());
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.write(entry);
    }, wait);
  }

  /** Creates the Event, or writes its count (one write at a time per Event). */
  private write(entry: Tracked): void {
    const flight = entry.flight.then(() => this.sync(entry));
    entry.flight = flight;
    this.flights.add(flight);
    void flight.finally(() => this.flights.delete(flight));
  }

  private async sync(entry: Tracked): Promise<void> {
    if (entry.name !== undefined && entry.count === entry.written) return;
    const count = entry.count;
    const result = entry.name === undefined ? 'created' : 'updated';
    try {
      if (entry.name === undefined) await this.create(entry, count);
      else {
        const body = { count, lastTimestamp: entry.last.toISOString() };
        await this.api
          .patchNamespacedEvent({ name: entry.name, namespace: entry.ref.namespace, body }, mergePatch)
          .catch((error) => {
            if (apiErrorCode(error) !== 404) throw error;
            return this.create(entry, count); // expired meanwhile (the API server keeps Events an hour)
          });
      }
      entry.written = count;
      this.ctx.metrics?.events.inc({ reason: entry.reason, result });
    } catch (error) {
      this.ctx.metrics?.events.inc({ reason: entry.reason, result: 'failed' });
      const forbidden = apiErrorCode(error) === 403;
      const fields = { device: entry.device, reason: entry.reason, err: describeApiError(error) };
      if (forbidden && !this.forbiddenLogged) {
        this.forbiddenLogged = true;
        this.ctx.log.warn(fields, 'events not written: no create/patch on events (logged once)');
      } else if (forbidden) this.ctx.log.debug(fields, 'event not written');
      else this.ctx.log.warn(fields, 'event not written');
    } finally {
      entry.lastWriteAt = Date.now();
    }
  }

  private async create(entry: Tracked, count: number): Promise<void> {
    const { ref } = entry;
    const suffix = `${Date.now().toString(16)}${Math.floor(Math.random() * 0x10000)
      .toString(16)
      .padStart(4, '0')}`;
    const name = `${ref.name.slice(0, 253 - suffix.length - 1)}.${suffix}`;
    await this.api.createNamespacedEvent({
      namespace: ref.namespace,
      body: {
        metadata: { name, namespace: ref.namespace },
        involvedObject: {
          apiVersion: API_VERSION,
          kind: 'Device',
          name: ref.name,
          namespace: ref.namespace,
          ...(ref.uid ? { uid: ref.uid } : {}),
        },
        type: entry.type,
        reason: entry.reason,
        message: entry.message,
        count,
        firstTimestamp: entry.first,
        lastTimestamp: entry.last,
        source: { component: this.component, host: this.instance },
        reportingComponent: this.component,
        reportingInstance: this.instance,
      },
    });
    entry.name = name;
  }
}
