import type { KubeConfig } from '@kubernetes/client-node';
import type { Device, MsgTwinMap, Twin } from '../device-models/index.js';
import type { Logger } from '../sdk/logger.js';
import { DeviceEvents, type EventLimits } from './events.js';
import type { CloudMetrics } from './metrics.js';
import { RequestSlots } from './request-slots.js';
import { apiErrorCode, describeApiError, StatusApi, type StatusTarget } from './status-api.js';
import {
  describeStatusMode,
  discoverStatusMode,
  type StatusMode,
  StatusResourceMissing,
  sameStatusMode,
} from './status-mode.js';
import { type Change, type Plan, planStatus, sendStatus, type View, viewOf } from './status-plan.js';
import { mergeTwin, toTwin } from './status-twins.js';

export { apiErrorCode, describeApiError } from './status-api.js';
export { toTwin } from './status-twins.js';

export interface StatusWriterContext {
  kubeConfig: KubeConfig;
  log: Logger;
  /** At most one write per device per this many ms: reports in between are merged into it. */
  intervalMs: number;
  /**
   * Where twins should go: `DeviceStatus`, or `Device` for Device.status. DeviceStatus falls back to
   * Device.status on a cluster that serves no DeviceStatus resource (KubeEdge's CRD sets before its
   * DeviceStatus CRD).
   */
  target: 'DeviceStatus' | 'Device';
  /** The Device as the DeviceController has it (ownerReference, desired values, generation, uid for Events). */
  device(key: string): Device | undefined;
  /** Where writes, coalesced reports, latencies and Events are counted. */
  metrics?: CloudMetrics;
  /**
   * `status.lastSeen` and `lastOnlineTime` alone (reports that change nothing else) are written at most this
   * often, in ms (default 60 000; 0: with every report).
   */
  lastSeenIntervalMs?: number;
  /** Kubernetes Events on state changes and refused desired values: their limits, or false for none. */
  events?: Partial<EventLimits> | false;
  /**
   * Status writes in flight at the API server at most (default 32); a device waiting for its turn keeps merging
   * its reports into the write it will send.
   */
  maxInFlight?: number;
}

/** Default of `maxInFlight`. */
export const DEFAULT_MAX_IN_FLIGHT = 32;

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/** What is waiting to be written for one device, and what Kubernetes holds for it (once read). */
interface Entry extends Change {
  waiters: Waiter[];
  timer?: NodeJS.Timeout;
  /** The write in flight (at most one per device), or the last one. */
  flight: Promise<void>;
  busy: boolean;
  /** When the last write started (ms). */
  lastStart?: number;
  view?: View;
  /** The state and conditions last applied to Device.status (undefined: compare with the informer's Device). */
  copied?: Record<string, unknown>;
  /** The Device was deleted: whatever is in flight ends, nothing more is written. */
  forgotten?: boolean;
}

/** A report for a device Kubernetes does not have: its DeviceStatus would have no owner. */
export class UnknownDeviceError extends Error {
  constructor(key: string) {
    super(`no Device ${key} to own its DeviceStatus`);
    this.name = 'UnknownDeviceError';
  }
}

/** Attempts of one write whose resourceVersion went stale (another writer wrote meanwhile). */
const MAX_ATTEMPTS = 5;

/**
 * Turns the edge's twin and state reports into device status (DESIGN.md §7): at most one write per device per
 * interval, and only when something Kubernetes holds would change (a value reported again as it was writes
 * nothing). Safe with several cloudcore replicas writing:
 * - edgetwin's CRDs (the /status subresource): server-side apply with one field manager per concern — the
 *   twins (`edgetwin-cloudcore-twins`, every twin, with the resourceVersion they were read at as a precondition:
 *   a manager's apply removes what it owned and left out, so a twin another replica added since must not be
 *   left out) and the state (`edgetwin-cloudcore-state`: state, lastOnlineTime, lastSeen, observedGeneration,
 *   conditions; also applied to Device.status when DeviceStatus holds the rest, for `kubectl get devices`);
 * - KubeEdge's CRDs (no subresource): one JSON merge patch of the object, with the resourceVersion
 *   precondition whenever it carries the twins (a merge patch replaces the whole list).
 * A stale resourceVersion (409) reads the object again and retries. What Kubernetes holds is kept per device
 * from the last read or write, so a steady device costs one request per write and no read.
 * Events: DeviceOnline / DeviceOffline / DeviceUnhealthy when the state changes, DesiredValueRefused when the
 * edge reports why a device does not hold its desired value (see events.ts for their limits).
 * Where status goes is found by API discovery at start(), and again when a write answers 404.
 */
export class StatusWriter {
  private readonly api: StatusApi;
  private readonly events?: DeviceEvents;
  private readonly pending = new Map<string, Entry>();
  /** The bound on writes in flight, shared by every device's writes. */
  private readonly slots: RequestSlots;
  private stopped = false;
  private writeCount = 0;
  private mode?: StatusMode;
  private discovery?: Promise<StatusMode>;
  /** Device.status answered 403: this cloudcore may not write it, so it stops trying. */
  private copyForbidden = false;

  constructor(private readonly ctx: StatusWriterContext) {
    this.api = new StatusApi(ctx.kubeConfig, ctx.metrics);
    this.slots = new RequestSlots(ctx.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
    ctx.metrics?.watchStatusSlots(this.slots);
    if (ctx.events !== false)
      this.events = new DeviceEvents({
        kubeConfig: ctx.kubeConfig,
        log: ctx.log,
        metrics: ctx.metrics,
        limits: ctx.events,
      });
  }

  /** Finds out where and how status is written (and logs it); write() does it too if start() was not called. */
  start(): Promise<StatusMode> {
    return this.mode ? Promise.resolve(this.mode) : this.discover();
  }

  /** Where status is written, once discovered. */
  get statusMode(): StatusMode | undefined {
    return this.mode;
  }

  /** Status writes (requests) this writer has made so far. */
  get patches(): number {
    return this.writeCount;
  }

  /** Devices this writer keeps anything for (pending reports, or what Kubernetes holds). */
  get tracked(): number {
    return this.pending.size;
  }

  /** Resolves once a write carrying these values is done; rejects if that write failed (resend then). */
  reportTwins(key: string, twins: MsgTwinMap): Promise<void> {
    const updates = new Map<string, Twin | null>();
    for (const [name, twin] of Object.entries(typeof twins === 'object' && twins !== null ? twins : {})) {
      const update = toTwin(name, twin);
      if (update !== undefined) updates.set(name, update);
    }
    if (updates.size === 0) return Promise.resolve();
    this.ctx.metrics?.statusReports.inc({ type: 'twins' });
    return this.enqueue(key, (e) => {
      for (const [name, update] of updates) e.updates.set(name, mergeTwin(e.updates.get(name), update));
    });
  }

  reportState(key: string, state: string, lastOnlineTime?: string): Promise<void> {
    if (typeof state !== 'string' || state === '') return Promise.resolve();
    this.ctx.metrics?.statusReports.inc({ type: 'state' });
    return this.enqueue(key, (e) => {
      e.state = state;
      if (typeof lastOnlineTime === 'string' && lastOnlineTime) e.lastOnlineTime = lastOnlineTime;
    });
  }

  /**
   * Forgets a device that was deleted (the DeviceController calls it): what is pending for it is dropped (its
   * reports resolve: there is nothing left to write them to), and so are its Events' counts.
   */
  forget(key: string): void {
    this.events?.forget(key);
    const entry = this.pending.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.forgotten = true;
    for (const w of entry.waiters) w.resolve();
    entry.waiters = [];
    this.pending.delete(key);
  }

  /** Writes what is pending now, then refuses more; leaves no timer. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const [key, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
      if (!entry.busy && hasPending(entry)) this.flush(key, entry);
    }
    // A write in flight flushes what came meanwhile as it ends (stopped: at once).
    while ([...this.pending.values()].some((e) => e.busy))
      await Promise.all([...this.pending.values()].map((e) => e.flight));
    await this.events?.stop();
  }

  /** Writes the Event counts waiting for their interval now; resolves once every Event so far is written. */
  flushEvents(): Promise<void> {
    return this.events?.flush() ?? Promise.resolve();
  }

  private enqueue(key: string, merge: (e: Entry) => void): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('StatusWriter is stopped'));
    if (!/^[^/]+\/[^/]+$/.test(key)) return Promise.reject(new Error(`not a device key: ${key}`));
    let entry = this.pending.get(key);
    if (!entry) {
      entry = { updates: new Map(), waiters: [], flight: Promise.resolve(), busy: false };
      this.pending.set(key, entry);
    }
    const now = Date.now();
    if (entry.waiters.length > 0) this.ctx.metrics?.reportsCoalesced.inc();
    merge(entry);
    entry.seen = now;
    entry.since ??= now;
    const e = entry;
    const done = new Promise<void>((resolve, reject) => e.waiters.push({ resolve, reject }));
    this.schedule(key, e);
    return done;
  }

  /**
   * Arms the write of what is pending: `intervalMs` after its oldest report and after the last write started,
   * never while a write is in flight (its end schedules the next), so what arrives meanwhile merges into one
   * write and a slow API server gets fewer, not more. Values kept from a failed write wait for a new report.
   */
  private schedule(key: string, entry: Entry): void {
    if (entry.timer || entry.busy || entry.forgotten || entry.waiters.length === 0) return;
    if (this.stopped) {
      this.flush(key, entry);
      return;
    }
    const now = Date.now();
    const interval = this.ctx.intervalMs;
    const delay = Math.max(0, (entry.since ?? now) + interval - now, (entry.lastStart ?? 0) + interval - now);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.flush(key, entry);
    }, delay);
  }

  /**
   * Starts a write of what is pending: once the write has a slot (RequestSlots), with what is pending then, so
   * that reports arriving while it waits go in the same write.
   */
  private flush(key: string, entry: Entry): void {
    entry.busy = true;
    entry.flight = (async () => {
      const release = await this.slots.acquire();
      const batch: Change = {
        updates: entry.updates,
        state: entry.state,
        lastOnlineTime: entry.lastOnlineTime,
        seen: entry.seen,
        since: entry.since,
      };
      const waiters = entry.waiters;
      entry.updates = new Map();
      entry.state = undefined;
      entry.lastOnlineTime = undefined;
      entry.seen = undefined;
      entry.since = undefined;
      entry.waiters = [];
      entry.lastStart = Date.now();
      try {
        if (!entry.forgotten) await this.write(key, entry, batch);
        for (const w of waiters) w.resolve();
      } catch (error) {
        this.failed(key, entry, batch, error);
        for (const w of waiters) w.reject(error);
      } finally {
        release();
      }
      entry.busy = false;
      // Not in Kubernetes and nothing waiting (a failed first read, an unknown device): forget it.
      if (!entry.view && !hasPending(entry) && this.pending.get(key) === entry) this.pending.delete(key);
      else this.schedule(key, entry);
    })();
  }

  /** Logs a failed write; a transient failure keeps its values for the next write (newer reports win). */
  private failed(key: string, entry: Entry, batch: Change, error: unknown): void {
    if (error instanceof StatusResourceMissing) {
      this.ctx.log.error({ key, err: error.message }, 'status not written: the resource is not served');
      return;
    }
    const code = apiErrorCode(error);
    const gone = code === 404 && this.mode?.kind === 'DeviceStatus'; // deleted meanwhile: created again
    const transient =
      !(error instanceof UnknownDeviceError) &&
      (code === undefined || gone || code === 409 || code === 429 || code >= 500);
    this.ctx.log.warn({ key, code, err: describeApiError(error), kept: transient }, 'status write failed');
    if (!transient || entry.forgotten) return;
    for (const [name, older] of batch.updates) {
      const newer = entry.updates.get(name);
      entry.updates.set(name, newer === undefined ? older : mergeTwin(older, newer));
    }
    entry.state ??= batch.state;
    entry.lastOnlineTime ??= batch.lastOnlineTime;
    entry.seen ??= batch.seen;
    entry.since =
      batch.since !== undefined && entry.since !== undefined
        ? Math.min(entry.since, batch.since)
        : (entry.since ?? batch.since);
  }

  /**
   * Writes with the discovered mode. A 404 is either the object (deleted meanwhile) or the resource: a CRD
   * without the status subresource answers a patch of `…/status` with 404 as if the object were missing, and a
   * CRD may have been replaced since start. Discovery, asked again, tells which; a changed mode is used at
   * once.
   */
  private async write(key: string, entry: Entry, batch: Change): Promise<void> {
    const mode = await this.start();
    try {
      await this.writeWith(mode, key, entry, batch);
    } catch (error) {
      if (apiErrorCode(error) !== 404) throw error;
      const fresh = await this.rediscover(mode);
      if (sameStatusMode(fresh, mode)) throw error; // the object itself is missing
      entry.copied = undefined;
      await this.writeWith(fresh, key, entry, batch);
    }
  }

  /** Plans and sends, reading again and retrying while another writer got there first (409). */
  private async writeWith(mode: StatusMode, key: string, entry: Entry, batch: Change): Promise<void> {
    const [namespace = '', name = ''] = key.split('/');
    const target = { kind: mode.kind, plural: mode.plural, subresource: mode.subresource, namespace, name };
    for (let attempt = 1; ; attempt++) {
      entry.view ??= await this.read(mode, key, target);
      const device = this.ctx.device(key);
      const plan = planStatus({
        mode: this.copyForbidden ? { ...mode, deviceCopy: false } : mode,
        view: entry.view,
        change: batch,
        device,
        copied: entry.copied,
        lastSeenIntervalMs: this.ctx.lastSeenIntervalMs ?? 60_000,
      });
      if (!plan.state) entry.view.heardOnline = plan.lastOnlineTime;
      if (!plan.twins && !plan.state && !plan.copy) {
        this.ctx.metrics?.statusUnchanged.inc();
        return;
      }
      try {
        const sent = await sendStatus(this.api, target, entry.view, plan, (copyError) =>
          this.copyFailed(key, copyError),
        );
        this.writeCount += sent.writes;
        if (sent.copied) entry.copied = plan.copy;
      } catch (error) {
        entry.view = undefined; // read again: whatever Kubernetes holds now is unknown
        if (apiErrorCode(error) === 409 && attempt < MAX_ATTEMPTS) continue;
        throw error;
      }
      if (batch.since !== undefined)
        this.ctx.metrics?.reportToStatusSeconds.observe((Date.now() - batch.since) / 1000);
      this.emitEvents(key, device, plan);
      return;
    }
  }

  /** What Kubernetes holds; a missing DeviceStatus is created first (owned by its Device). */
  private async read(mode: StatusMode, key: string, target: StatusTarget): Promise<View> {
    const object = await this.api.get(target);
    if (object) return viewOf(object);
    if (mode.kind !== 'DeviceStatus') throw Object.assign(new Error(`no Device ${key}`), { code: 404 });
    const uid = uidOf(this.ctx.device(key));
    if (uid === undefined) throw new UnknownDeviceError(key);
    const created = await this.api.createDeviceStatus(target.namespace, target.name, uid);
    if (created) this.ctx.log.info({ key }, 'DeviceStatus created');
    const current = created ?? (await this.api.get(target)); // created meanwhile by another writer
    if (!current)
      throw Object.assign(new Error(`DeviceStatus ${key} deleted as it was created`), { code: 404 });
    return viewOf(current);
  }

  private copyFailed(key: string, error: unknown): void {
    if (apiErrorCode(error) === 403) {
      this.copyForbidden = true;
      this.ctx.log.warn(
        { key, err: describeApiError(error) },
        'state and conditions are not copied to Device.status (no patch on devices/status): ' +
          'kubectl get devices shows no State or Synced',
      );
    } else this.ctx.log.warn({ key, err: describeApiError(error) }, 'state not copied to Device.status');
  }

  private emitEvents(key: string, device: Device | undefined, plan: Plan): void {
    if (!this.events) return;
    const [namespace = '', name = ''] = key.split('/');
    const uid = uidOf(device);
    const ref = { namespace, name, ...(uid !== undefined ? { uid } : {}) };
    for (const event of plan.events) this.events.emit(ref, event.type, event.reason, event.message);
  }

  /** Asks discovery again after a 404 with `stale` (once for all the writes that saw it). */
  private rediscover(stale: StatusMode): Promise<StatusMode> {
    if (this.mode && !sameStatusMode(this.mode, stale)) return Promise.resolve(this.mode);
    return this.discover();
  }

  private discover(): Promise<StatusMode> {
    this.discovery ??= discoverStatusMode(this.ctx.kubeConfig, this.ctx.target)
      .then((mode) => {
        const before = this.mode;
        this.mode = mode;
        const fields = {
          kind: mode.kind,
          resource: mode.subresource ? `${mode.plural}/status` : mode.plural,
          write: describeStatusMode(mode),
        };
        if (!before) {
          const fallback =
            mode.kind !== this.ctx.target
              ? { fallback: 'no DeviceStatus resource on this cluster: twins and state go to Device.status' }
              : {};
          this.ctx.log.info({ ...fields, ...fallback }, 'status write mode');
        } else if (!sameStatusMode(before, mode))
          this.ctx.log.warn({ ...fields, was: describeStatusMode(before) }, 'status write mode changed');
        return mode;
      })
      .finally(() => {
        this.discovery = undefined;
      });
    return this.discovery;
  }
}

const uidOf = (device: Device | undefined): string | undefined => {
  const uid = (device?.metadata as { uid?: unknown } | undefined)?.uid;
  return typeof uid === 'string' ? uid : undefined;
};

/** Reports (or values kept from a failed write) not written yet. */
const hasPending = (entry: Entry): boolean =>
  entry.waiters.length > 0 || entry.updates.size > 0 || entry.state !== undefined;
