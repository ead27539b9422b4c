import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  API_GROUP,
  API_VERSION,
  type Device,
  type MsgTwin,
  type MsgTwinMap,
  type MsgTwinValue,
  type Twin,
} from '../device-models/index.js';
import type { Logger } from '../sdk/logger.js';
import {
  describeStatusMode,
  discoverStatusMode,
  type StatusMode,
  StatusResourceMissing,
  sameStatusMode,
} from './status-mode.js';

export interface StatusWriterContext {
  kubeConfig: KubeConfig;
  log: Logger;
  /** At most one patch per device per this many ms: reports in between are merged into it. */
  intervalMs: number;
  /**
   * Where twins should go: `DeviceStatus`, or `Device` for Device.status. DeviceStatus falls back to
   * Device.status on a cluster that serves no DeviceStatus resource (KubeEdge's CRD sets before its
   * DeviceStatus CRD).
   */
  target: 'DeviceStatus' | 'Device';
  /** The Device as the DeviceController has it (for the DeviceStatus's ownerReference). */
  device(key: string): Device | undefined;
}

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

/** What is waiting to be written for one device, and what Kubernetes has (`twins`, once read). */
interface Pending {
  twins?: Map<string, Twin>;
  exists?: boolean;
  updates: Map<string, Twin | null>;
  state?: string;
  lastOnlineTime?: string;
  waiters: Waiter[];
  timer?: NodeJS.Timeout;
  flight: Promise<void>;
}

type Batch = Pick<Pending, 'updates' | 'state' | 'lastOnlineTime'>;

/** A report for a device Kubernetes does not have: its DeviceStatus would have no owner. */
export class UnknownDeviceError extends Error {
  constructor(key: string) {
    super(`no Device ${key} to own its DeviceStatus`);
    this.name = 'UnknownDeviceError';
  }
}

const VERSION = 'v1beta1';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/**
 * Turns the edge's twin and state reports into JSON merge patches of DeviceStatus (or Device) `status`
 * (DESIGN.md §7), one per device per interval at most. A merge patch replaces arrays, so the whole
 * `status.twins` is kept per device (read once) and sent each time. Where the patch goes (the /status
 * subresource, or the object itself on CRDs without it, such as KubeEdge's) is found by API discovery at
 * start(), and again when a write answers 404.
 */
export class StatusWriter {
  private readonly api: CustomObjectsApi;
  private readonly pending = new Map<string, Pending>();
  private stopped = false;
  private patchCount = 0;
  private mode?: StatusMode;
  private discovery?: Promise<StatusMode>;

  constructor(private readonly ctx: StatusWriterContext) {
    this.api = ctx.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** Finds out where and how status is written (and logs it); write() does it too if start() was not called. */
  start(): Promise<StatusMode> {
    return this.mode ? Promise.resolve(this.mode) : this.discover();
  }

  /** Where status is written, once discovered. */
  get statusMode(): StatusMode | undefined {
    return this.mode;
  }

  /** Status patches applied so far. */
  get patches(): number {
    return this.patchCount;
  }

  /** Resolves once a patch carrying these values is applied; rejects if that patch failed (resend then). */
  reportTwins(key: string, twins: MsgTwinMap): Promise<void> {
    const updates = new Map<string, Twin | null>();
    for (const [name, twin] of Object.entries(isObject(twins) ? twins : {})) {
      const update = toTwin(name, twin);
      if (update !== undefined) updates.set(name, update);
    }
    if (updates.size === 0) return Promise.resolve();
    return this.enqueue(key, (p) => {
      for (const [name, update] of updates) p.updates.set(name, mergeTwin(p.updates.get(name), update));
    });
  }

  reportState(key: string, state: string, lastOnlineTime?: string): Promise<void> {
    if (typeof state !== 'string' || state === '') return Promise.resolve();
    return this.enqueue(key, (p) => {
      p.state = state;
      if (typeof lastOnlineTime === 'string' && lastOnlineTime) p.lastOnlineTime = lastOnlineTime;
    });
  }

  /** Writes what is pending now, then refuses more; leaves no timer. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const [key, p] of this.pending) {
      if (!p.timer && p.updates.size === 0 && p.state === undefined) continue;
      clearTimeout(p.timer);
      p.timer = undefined;
      this.flush(key, p);
    }
    await Promise.all([...this.pending.values()].map((p) => p.flight));
  }

  private enqueue(key: string, merge: (p: Pending) => void): Promise<void> {
    if (this.stopped) return Promise.reject(new Error('StatusWriter is stopped'));
    if (!/^[^/]+\/[^/]+$/.test(key)) return Promise.reject(new Error(`not a device key: ${key}`));
    let p = this.pending.get(key);
    if (!p) {
      p = { updates: new Map(), waiters: [], flight: Promise.resolve() };
      this.pending.set(key, p);
    }
    merge(p);
    const entry = p;
    const done = new Promise<void>((resolve, reject) => entry.waiters.push({ resolve, reject }));
    entry.timer ??= setTimeout(() => {
      entry.timer = undefined;
      this.flush(key, entry);
    }, this.ctx.intervalMs);
    return done;
  }

  /** Starts a write of what is pending now, after the write in flight (one at a time per device). */
  private flush(key: string, p: Pending): void {
    const batch = {
      updates: p.updates,
      state: p.state,
      lastOnlineTime: p.lastOnlineTime,
      waiters: p.waiters,
    };
    p.updates = new Map();
    p.state = undefined;
    p.lastOnlineTime = undefined;
    p.waiters = [];
    p.flight = p.flight.then(async () => {
      try {
        await this.write(key, p, batch);
        for (const w of batch.waiters) w.resolve();
      } catch (error) {
        this.failed(key, p, batch, error);
        for (const w of batch.waiters) w.reject(error);
      }
      // Not in Kubernetes and nothing waiting (a failed first read, an unknown device): forget it.
      const idle = p.waiters.length === 0 && !p.timer && p.updates.size === 0 && p.state === undefined;
      if (idle && (p.twins === undefined || !p.exists)) this.pending.delete(key);
    });
  }

  /** Logs a failed write; a transient failure keeps its values for the next patch (newer reports win). */
  private failed(key: string, p: Pending, batch: Batch, error: unknown): void {
    if (error instanceof StatusResourceMissing) {
      this.ctx.log.error({ key, err: error.message }, 'status not written: the resource is not served');
      return;
    }
    const code = apiErrorCode(error);
    const gone = code === 404 && this.mode?.kind === 'DeviceStatus'; // deleted meanwhile: created again
    const transient =
      !(error instanceof UnknownDeviceError) &&
      (code === undefined || gone || code === 409 || code === 429 || code >= 500);
    this.ctx.log.warn({ key, code, err: describeApiError(error), kept: transient }, 'status patch failed');
    if (!transient) return;
    for (const [name, older] of batch.updates) {
      const newer = p.updates.get(name);
      p.updates.set(name, newer === undefined ? older : mergeTwin(older, newer));
    }
    p.state ??= batch.state;
    p.lastOnlineTime ??= batch.lastOnlineTime;
  }

  /**
   * Writes with the discovered mode. A 404 is either the object (deleted meanwhile) or the resource: a CRD
   * without the status subresource answers a patch of `…/status` with 404 as if the object were missing, and a
   * CRD may have been replaced since start. Discovery, asked again, tells which; a changed mode is used at
   * once.
   */
  private async write(key: string, p: Pending, batch: Batch): Promise<void> {
    const mode = await this.start();
    try {
      await this.writeWith(mode, key, p, batch);
    } catch (error) {
      if (apiErrorCode(error) !== 404) throw error;
      const fresh = await this.rediscover(mode);
      if (sameStatusMode(fresh, mode)) throw error; // the object itself is missing
      p.twins = undefined;
      p.exists = undefined;
      await this.writeWith(fresh, key, p, batch);
    }
  }

  private async writeWith(mode: StatusMode, key: string, p: Pending, batch: Batch): Promise<void> {
    const [namespace = '', name = ''] = key.split('/');
    const ref = { group: API_GROUP, version: VERSION, namespace, name };
    const { plural } = mode;
    if (!p.twins) {
      const current = await this.api.getNamespacedCustomObject({ ...ref, plural }).catch((error) => {
        if (apiErrorCode(error) === 404 && mode.kind === 'DeviceStatus') return undefined;
        throw error;
      });
      p.exists = current !== undefined;
      const listed: Twin[] = Array.isArray(current?.status?.twins) ? current.status.twins : [];
      // (KubeEdge's CRDs require no propertyName: an entry without one is not ours to keep.)
      p.twins = new Map(
        listed.flatMap((t) => (typeof t?.propertyName === 'string' ? [[t.propertyName, t] as const] : [])),
      );
    }
    if (!p.exists) {
      await this.create(key, namespace, name);
      p.exists = true;
    }
    const twins = new Map(p.twins);
    for (const [prop, t] of batch.updates) {
      if (t) twins.set(prop, mergeTwin(twins.get(prop), t) as Twin);
      else twins.delete(prop);
    }
    const status = {
      twins: [...twins.values()],
      ...(batch.state ? { state: batch.state } : {}),
      ...(batch.lastOnlineTime ? { lastOnlineTime: batch.lastOnlineTime } : {}),
    };
    try {
      const patch = { ...ref, plural, body: { status } };
      if (mode.subresource) await this.api.patchNamespacedCustomObjectStatus(patch, mergePatch);
      else await this.api.patchNamespacedCustomObject(patch, mergePatch);
    } catch (error) {
      if (apiErrorCode(error) === 404) p.twins = undefined; // deleted meanwhile: read (and create) again
      throw error;
    }
    this.patchCount++;
    p.twins = twins;
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

  private async create(key: string, namespace: string, name: string): Promise<void> {
    const uid = (this.ctx.device(key)?.metadata as { uid?: unknown } | undefined)?.uid;
    if (typeof uid !== 'string') throw new UnknownDeviceError(key);
    const body = {
      apiVersion: API_VERSION,
      kind: 'DeviceStatus',
      metadata: {
        name,
        namespace,
        ownerReferences: [
          { apiVersion: API_VERSION, kind: 'Device', name, uid, controller: true, blockOwnerDeletion: false },
        ],
      },
    };
    await this.api
      .createNamespacedCustomObject({
        group: API_GROUP,
        version: VERSION,
        namespace,
        plural: 'devicestatuses',
        body,
      })
      .catch((error) => {
        if (apiErrorCode(error) !== 409) throw error; // created meanwhile: fine
      });
    this.ctx.log.info({ key }, 'DeviceStatus created');
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** A twin report as a status entry: null deletes it, undefined means nothing to write. */
export function toTwin(name: string, twin: MsgTwin | null | undefined): Twin | null | undefined {
  if (!name) return undefined;
  if (twin === null) return null;
  if (!isObject(twin)) return undefined;
  const type = isObject(twin.metadata) ? twin.metadata.type : undefined;
  if (type === 'deleted') return null;
  const part = (v: MsgTwinValue | null | undefined) => {
    if (!isObject(v) || !['string', 'number', 'boolean'].includes(typeof v.value)) return undefined;
    const timestamp = isObject(v.metadata) ? v.metadata.timestamp : undefined;
    const metadata: Record<string, string> = {
      ...(timestamp !== undefined && timestamp !== null ? { timestamp: String(timestamp) } : {}),
      ...(typeof type === 'string' ? { type } : {}),
    };
    return { value: String(v.value), ...(Object.keys(metadata).length > 0 ? { metadata } : {}) };
  };
  const reported = part(twin.actual);
  const observedDesired = part(twin.expected);
  if (!reported && !observedDesired) return undefined;
  return {
    propertyName: name,
    ...(reported ? { reported } : {}),
    ...(observedDesired ? { observedDesired } : {}),
  };
}

/**
 * A newer entry over an older one, part by part (a report of only `actual` keeps `observedDesired`). Over a
 * deletion, the parts it lacks are set to undefined, so that it also replaces what Kubernetes has (JSON drops them).
 */
function mergeTwin(older: Twin | null | undefined, newer: Twin | null): Twin | null {
  if (!newer || older === undefined) return newer;
  if (older === null) return { reported: undefined, observedDesired: undefined, ...newer };
  return { ...older, ...newer };
}

/** The HTTP status of a failed API call (ApiException's `code`); undefined for a connection error. */
export function apiErrorCode(error: unknown): number | undefined {
  const code = isObject(error) ? error.code : undefined;
  return typeof code === 'number' && code >= 100 && code < 600 ? code : undefined;
}

/** One line about a failed API call: the status and the API server's message when there is one. */
export function describeApiError(error: unknown): string {
  const body = isObject(error) ? error.body : undefined;
  if (typeof body === 'string') {
    try {
      const status = JSON.parse(body) as { message?: string };
      if (status.message) return `${apiErrorCode(error)}: ${status.message}`;
    } catch {}
  }
  return error instanceof Error ? error.message : String(error);
}
