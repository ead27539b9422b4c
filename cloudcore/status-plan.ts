import { type Condition, DEVICE_CONDITION_TYPES, type Device, type Twin } from '../device-models/internal.js';
import type { EventType } from './events.js';
import {
  FIELD_MANAGERS,
  type JsonPatchOp,
  type StatusApi,
  type StatusObject,
  type StatusTarget,
} from './status-api.js';
import { desiredOf, deviceConditions, sameConditions, stateClass } from './status-conditions.js';
import type { StatusMode } from './status-mode.js';
import { applyTwinUpdates, twinsOf } from './status-twins.js';

/**
 * One status write, planned from what Kubernetes holds (`View`) and what the edge reported since (`Change`):
 * which concerns to write (only those that change), with what, and which Events follow; then sent.
 */

/** Reports merged since the last write of a device. */
export interface Change {
  /** Newest entry per property; null deletes it. */
  updates: Map<string, Twin | null>;
  state?: string;
  lastOnlineTime?: string;
  /** When the newest and the oldest of these reports arrived (ms since the epoch). */
  seen?: number;
  since?: number;
}

/** The state concern of a status: what the `edgetwin-cloudcore-state` field manager writes. */
export interface StateFields {
  state?: string;
  lastOnlineTime?: string;
  lastSeen?: string;
  observedGeneration?: number;
  conditions?: Condition[];
}

/** What Kubernetes holds for one device, as of the last read or write. */
export interface View {
  resourceVersion?: string;
  twins: Map<string, Twin>;
  /** The state concern as last read, or as last written (what a CRD prunes is not written again and again). */
  state: StateFields;
  /** The newest lastOnlineTime reported and not written yet (it is written with the state or lastSeen). */
  heardOnline?: string;
}

export interface PlannedEvent {
  type: EventType;
  reason: string;
  message: string;
}

export interface Plan {
  /** Every twin, when any changed. */
  twins?: Twin[];
  /** Properties whose entry goes. */
  deleted: string[];
  /** Properties whose entry is removed before the apply writes it anew (see TwinChanges.replaced). */
  replaced: string[];
  /** The state concern, when it changed or lastSeen is due. */
  state?: StateFields;
  /** State and conditions for Device.status, when they differ from what it has. */
  copy?: Record<string, unknown>;
  /** Events once written. */
  events: PlannedEvent[];
  /** The newest lastOnlineTime heard (kept in the view while the state is not written). */
  lastOnlineTime?: string;
}

export interface PlanInput {
  mode: StatusMode;
  view: View;
  change: Change;
  device?: Device;
  /** What was last applied to Device.status (else what the informer's Device has). */
  copied?: Record<string, unknown>;
  lastSeenIntervalMs: number;
  now?: Date;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const compact = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** Our conditions among those a status holds (others' are not ours to compare). */
function conditionsOf(list: unknown): Condition[] | undefined {
  if (!Array.isArray(list)) return undefined;
  const types: readonly string[] = DEVICE_CONDITION_TYPES;
  return list.filter((c): c is Condition => isObject(c) && types.includes(c.type as string));
}

function stateFieldsOf(status: unknown): StateFields {
  if (!isObject(status)) return {};
  const generation = status.observedGeneration;
  return compact({
    state: str(status.state),
    lastOnlineTime: str(status.lastOnlineTime),
    lastSeen: str(status.lastSeen),
    observedGeneration: typeof generation === 'number' ? generation : undefined,
    conditions: conditionsOf(status.conditions),
  });
}

/** A DeviceStatus or Device as the writer keeps it. */
export function viewOf(object: StatusObject): View {
  return {
    resourceVersion: object.metadata?.resourceVersion,
    twins: twinsOf(object.status),
    state: stateFieldsOf(object.status),
  };
}

const generationOf = (device: Device | undefined) => {
  const generation = (device?.metadata as { generation?: unknown } | undefined)?.generation;
  return typeof generation === 'number' ? generation : undefined;
};

/**
 * What to write: every twin when any changed (a value or reason, compared by type; timestamps alone are no
 * change); the state concern when the state, a condition or the observed generation changed, or when lastSeen
 * is `lastSeenIntervalMs` old; the copy in Device.status when its state or conditions differ; and the Events
 * that follow (a new state class, a newly reported reason).
 */
export function planStatus(input: PlanInput): Plan {
  const { mode, view, change, device } = input;
  const now = input.now ?? new Date();
  const twins = applyTwinUpdates(view.twins, change.updates);
  const state = change.state ?? view.state.state;
  // A status write to a CRD without the status subresource bumps the Device's own generation: none to observe.
  const generation = mode.subresource || mode.kind === 'DeviceStatus' ? generationOf(device) : undefined;
  const conditions = deviceConditions({
    state,
    twins: twins.twins.values(),
    desired: desiredOf(device),
    generation,
    previous: view.state.conditions,
    now: now.toISOString(),
  });
  const changed =
    state !== view.state.state ||
    !sameConditions(conditions, view.state.conditions) ||
    generation !== view.state.observedGeneration;
  const seen = change.seen ?? now.getTime();
  const lastSeen = view.state.lastSeen ? Date.parse(view.state.lastSeen) : Number.NaN;
  const due = !(seen - lastSeen < input.lastSeenIntervalMs); // NaN: never written
  const lastOnlineTime = change.lastOnlineTime ?? view.heardOnline ?? view.state.lastOnlineTime;
  const plan: Plan = { deleted: twins.deleted, replaced: twins.replaced, events: [], lastOnlineTime };
  if (twins.changed) plan.twins = [...twins.twins.values()];
  if (changed || due)
    plan.state = compact({
      state,
      lastOnlineTime,
      lastSeen: new Date(seen).toISOString(),
      observedGeneration: generation,
      conditions,
    });
  if (mode.deviceCopy) {
    const copy = compact({ state, conditions, observedGeneration: generation });
    if (!sameCopy(copy, input.copied ?? (isObject(device?.status) ? device.status : {}))) plan.copy = copy;
  }
  const after = stateClass(state);
  if (plan.state && after && after !== stateClass(view.state.state))
    plan.events.push(stateEvent(after, state));
  if (plan.twins)
    for (const r of twins.refusals)
      plan.events.push({
        type: 'Warning',
        reason: 'DesiredValueRefused',
        message: `${r.property}: the device holds ${r.reported}${r.desired !== undefined ? ` instead of ${r.desired}` : ''}: ${r.reason}`,
      });
  return plan;
}

function sameCopy(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return (
    a.state === b.state &&
    a.observedGeneration === b.observedGeneration &&
    sameConditions(conditionsOf(a.conditions), conditionsOf(b.conditions))
  );
}

const STATE_EVENTS = {
  online: { type: 'Normal', reason: 'DeviceOnline' },
  offline: { type: 'Warning', reason: 'DeviceOffline' },
  unhealthy: { type: 'Warning', reason: 'DeviceUnhealthy' },
} as const;

function stateEvent(kind: keyof typeof STATE_EVENTS, state: string | undefined): PlannedEvent {
  return { ...STATE_EVENTS[kind], message: `the mapper reports the device ${state?.toLowerCase()}` };
}

/** The JSON patch that removes these entries of `status.twins`, each checked to be the one at its index. */
function removals(listed: Iterable<string>, names: readonly string[]): JsonPatchOp[] {
  const order = [...listed];
  const ops: JsonPatchOp[] = [];
  for (let i = order.length - 1; i >= 0; i--) {
    const name = order[i];
    if (name === undefined || !names.includes(name)) continue;
    ops.push({ op: 'test', path: `/status/twins/${i}/propertyName`, value: name });
    ops.push({ op: 'remove', path: `/status/twins/${i}` });
  }
  return ops;
}

function refresh(view: View, object: StatusObject): void {
  view.resourceVersion = object.metadata?.resourceVersion;
  view.twins = twinsOf(object.status);
}

/**
 * Sends a plan and keeps `view` up to date with what the API server answers. A failed copy to Device.status is
 * reported to `copyFailed` and does not fail the write.
 */
export async function sendStatus(
  api: StatusApi,
  target: StatusTarget,
  view: View,
  plan: Plan,
  copyFailed: (error: unknown) => void,
): Promise<{ writes: number; copied: boolean }> {
  let writes = 0;
  if (target.subresource) {
    if (plan.twins) {
      if (plan.replaced.length > 0) {
        refresh(view, await api.jsonPatch(target, 'twins', removals(view.twins.keys(), plan.replaced)));
        writes++;
      }
      const status = { twins: plan.twins };
      let object = await api.apply(target, 'twins', FIELD_MANAGERS.twins, status, view.resourceVersion);
      writes++;
      // An entry another field manager also owns (an older cloudcore's merge patch, kubectl) outlives the apply.
      const kept = plan.deleted.filter((name) => twinsOf(object.status).has(name));
      if (kept.length > 0) {
        object = await api.jsonPatch(target, 'twins', removals(twinsOf(object.status).keys(), kept));
        writes++;
      }
      refresh(view, object);
    }
    if (plan.state) {
      refresh(view, await api.apply(target, 'state', FIELD_MANAGERS.state, { ...plan.state }));
      writes++;
    }
  } else if (plan.twins || plan.state) {
    const status = { ...(plan.twins ? { twins: plan.twins } : {}), ...plan.state };
    refresh(view, await api.merge(target, 'all', status, plan.twins ? view.resourceVersion : undefined));
    writes++;
  }
  if (plan.state) {
    view.state = plan.state;
    view.heardOnline = undefined;
  }
  let copied = false;
  if (plan.copy) {
    const device: StatusTarget = { ...target, kind: 'Device', plural: 'devices', subresource: true };
    try {
      await api.apply(device, 'device', FIELD_MANAGERS.state, plan.copy);
      writes++;
      copied = true;
    } catch (error) {
      copyFailed(error);
    }
  }
  return { writes, copied };
}
