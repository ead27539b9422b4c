import {
  type Condition,
  type Device,
  type DeviceConditionType,
  sameTwinValue,
  type Twin,
} from '../device-models/internal.js';

/**
 * The pure rules for a device's `status.conditions` (metav1.Condition's shape), from what the edge reported
 * (state, twins) and what the Device asks for (desired values, generation):
 * - `Reachable`: True while the device is online (or ok), False while offline, disconnected or unhealthy,
 *   Unknown before any state or while the edge says unknown;
 * - `TwinSynced`: True when every desired value (the Device's, else the edge's) is the reported one and the
 *   edge's own desired value agrees (compared by type: "24" and "24.0" are one float); the message names the
 *   properties that are not, with the edge's reason where it gave one;
 * - `MapperReady`: True once a mapper has reported a state for the device (only a mapper publishes one; the
 *   edge's own default is unknown), Unknown before. Nothing the edge reports today says a mapper is gone, so it
 *   is never False.
 * `lastTransitionTime` moves only when `status` does.
 */

export type ConditionStatus = Condition['status'];

/** What a state means for reachability: one of three, or undefined for unknown/none. */
export type StateClass = 'online' | 'offline' | 'unhealthy';

export function stateClass(state: string | undefined): StateClass | undefined {
  switch (state?.toLowerCase()) {
    case 'online':
    case 'ok':
      return 'online';
    case 'offline':
    case 'disconnected':
      return 'offline';
    case 'unhealthy':
      return 'unhealthy';
    default:
      return undefined;
  }
}

/** The Device's desired values, by property (`spec.properties[].desired.value`). */
export function desiredOf(device: Device | undefined): Map<string, string> {
  const desired = new Map<string, string>();
  for (const property of device?.spec?.properties ?? [])
    if (property.name && typeof property.desired?.value === 'string')
      desired.set(property.name, property.desired.value);
  return desired;
}

export interface ConditionInput {
  /** The device state last reported, if any. */
  state?: string;
  /** Every twin of the device, as Kubernetes will hold them. */
  twins: Iterable<Twin>;
  /** The Device's desired values (see desiredOf); a twin's observedDesired counts where the Device has none. */
  desired: ReadonlyMap<string, string>;
  /** The Device's metadata.generation, written as each condition's observedGeneration when given. */
  generation?: number;
  /** The conditions Kubernetes holds now (for lastTransitionTime). */
  previous?: readonly Condition[];
  /** Now, RFC 3339. */
  now: string;
}

type Judgement = Pick<Condition, 'status' | 'reason' | 'message'>;

/** The three conditions, in a fixed order. */
export function deviceConditions(input: ConditionInput): Condition[] {
  const judged: [DeviceConditionType, Judgement][] = [
    ['Reachable', reachable(input.state)],
    ['TwinSynced', twinSynced(input.twins, input.desired)],
    ['MapperReady', mapperReady(input.state)],
  ];
  return judged.map(([type, judgement]) => {
    const before = input.previous?.find((c) => c.type === type);
    return {
      type,
      ...judgement,
      lastTransitionTime:
        before?.status === judgement.status && before.lastTransitionTime
          ? before.lastTransitionTime
          : input.now,
      ...(input.generation !== undefined ? { observedGeneration: input.generation } : {}),
    };
  });
}

/** Whether two condition lists say the same (lastTransitionTime aside, which follows status). */
export function sameConditions(
  a: readonly Condition[] | undefined,
  b: readonly Condition[] | undefined,
): boolean {
  if (a?.length !== b?.length) return false;
  return (a ?? []).every((x) => {
    const y = b?.find((c) => c.type === x.type);
    return (
      y !== undefined &&
      x.status === y.status &&
      x.reason === y.reason &&
      x.message === y.message &&
      x.observedGeneration === y.observedGeneration
    );
  });
}

function reachable(state: string | undefined): Judgement {
  const named = state?.toLowerCase();
  switch (stateClass(state)) {
    case 'online':
      return { status: 'True', reason: 'DeviceOnline', message: `the device is ${named}` };
    case 'offline':
      return named === 'disconnected'
        ? {
            status: 'False',
            reason: 'DeviceDisconnected',
            message: 'the mapper lost its connection to the device',
          }
        : { status: 'False', reason: 'DeviceOffline', message: 'the mapper cannot reach the device' };
    case 'unhealthy':
      return { status: 'False', reason: 'DeviceUnhealthy', message: 'the device is connected but failing' };
    default:
      return state
        ? { status: 'Unknown', reason: 'StateUnknown', message: `the edge reports the state ${state}` }
        : { status: 'Unknown', reason: 'NoStateReported', message: 'no state has been reported' };
  }
}

function mapperReady(state: string | undefined): Judgement {
  return stateClass(state)
    ? {
        status: 'True',
        reason: 'MapperReporting',
        message: `a mapper runs the device and reports it ${state?.toLowerCase()}`,
      }
    : {
        status: 'Unknown',
        reason: 'NoMapperReport',
        message: 'no mapper has reported a state for the device',
      };
}

/** Longest TwinSynced message: the names beyond it are counted, not listed. */
const MAX_MESSAGE = 1024;

function twinSynced(twins: Iterable<Twin>, desired: ReadonlyMap<string, string>): Judgement {
  const byName = new Map<string, Twin>();
  for (const twin of twins) if (twin.propertyName) byName.set(twin.propertyName, twin);
  const names = new Set(desired.keys());
  for (const [name, twin] of byName) if (twin.observedDesired) names.add(name);
  const out: string[] = [];
  let refused = false;
  for (const name of [...names].sort()) {
    const twin = byName.get(name);
    const want = desired.get(name) ?? twin?.observedDesired?.value ?? '';
    const got = twin?.reported?.value;
    const edge = twin?.observedDesired?.value;
    const type = twin?.reported?.metadata?.type ?? twin?.observedDesired?.metadata?.type;
    const holds = got !== undefined && sameTwinValue(type, got, want);
    if (holds && (edge === undefined || sameTwinValue(type, edge, want))) continue;
    const reason = twin?.reported?.metadata?.reason;
    refused ||= reason !== undefined;
    out.push(got === undefined ? `${name} (not reported)` : reason ? `${name} (${reason})` : name);
  }
  if (out.length === 0)
    return {
      status: 'True',
      reason: 'Synced',
      message: names.size > 0 ? 'every desired value is reported' : 'no desired values',
    };
  return {
    status: 'False',
    reason: refused ? 'DesiredValueRefused' : 'DesiredNotReported',
    message: listMessage('not in sync: ', out),
  };
}

function listMessage(prefix: string, items: string[]): string {
  let message = prefix;
  for (const [i, item] of items.entries()) {
    const next = i === 0 ? item : `, ${item}`;
    if (message.length + next.length > MAX_MESSAGE - 24) return `${message} and ${items.length - i} more`;
    message += next;
  }
  return message;
}
