import { EdgetwinError } from '../../device-models/errors.js';

/**
 * KubeEdge's EventBus topics (DESIGN.md §4). A device id is `{namespace}/{name}`, so the device part of a
 * topic is two levels: `$hw/events/device/{namespace}/{name}/twin/update`. Pass `ANY_DEVICE` (or `ns/+`)
 * to any builder to get a subscription filter instead of a topic.
 */

/** The device part of a filter that matches every device: `+/+`. */
export const ANY_DEVICE = '+/+';
/** The node part of a filter that matches every node. */
export const ANY_NODE = '+';

const HW_DEVICE = '$hw/events/device/';
const KE_DEVICE = '$ke/events/device/';
const HW_NODE = '$hw/events/node/';

/** What follows `{namespace}/{name}/` in each device topic, by prefix. */
export const DEVICE_TOPIC_SUFFIXES = {
  [HW_DEVICE]: [
    'twin/update',
    'twin/update/result',
    'twin/update/delta',
    'twin/update/document',
    'twin/get',
    'twin/get/result',
    'twin/cloud_updated',
    'state/update',
    'state/update/result',
  ],
  [KE_DEVICE]: ['data/update'],
} as const;

/** One of the device topic suffixes, e.g. `twin/update/delta`. */
export type DeviceTopicSuffix = (typeof DEVICE_TOPIC_SUFFIXES)[keyof typeof DEVICE_TOPIC_SUFFIXES][number];

/** What follows `{node}/` in each node topic. */
export const NODE_TOPIC_SUFFIXES = ['membership/get', 'membership/get/result', 'membership/updated'] as const;
/** One of `NODE_TOPIC_SUFFIXES`. */
export type NodeTopicSuffix = (typeof NODE_TOPIC_SUFFIXES)[number];

/** A level that may appear in a device id: a name, or `+` alone (a filter). */
function checkLevel(level: string | undefined, what: string, whole: string): void {
  if (!level) throw invalid(`${what} is empty in "${whole}"`);
  if (level !== '+' && /[+#/\0]/.test(level))
    throw invalid(`${what} "${level}" must not contain + # / or NUL`);
}

/** What the EventBus client and its topic builders throw; `code` says why. */
export class EventBusError extends EdgetwinError {
  constructor(code: EventBusErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/** The `code` of an EventBusError: what was wrong with a topic, a payload or the connection. */
export type EventBusErrorCode =
  | 'EVENTBUS_INVALID_TOPIC'
  | 'EVENTBUS_INVALID_PAYLOAD'
  | 'EVENTBUS_PAYLOAD_TOO_LARGE'
  | 'EVENTBUS_QUEUE_FULL'
  | 'EVENTBUS_CONNECT_TIMEOUT'
  | 'EVENTBUS_REFUSED'
  | 'EVENTBUS_SUBSCRIBE_REFUSED'
  | 'EVENTBUS_CLOSED';

function invalid(message: string): EventBusError {
  return new EventBusError('EVENTBUS_INVALID_TOPIC', message);
}

/** Checks that `id` is `{namespace}/{name}` (either may be `+`), and returns it. */
export function checkDeviceId(id: string): string {
  const levels = id.split('/');
  if (levels.length !== 2) throw invalid(`a device id is "{namespace}/{name}" (got "${id}")`);
  checkLevel(levels[0], 'namespace', id);
  checkLevel(levels[1], 'name', id);
  return id;
}

const device = (prefix: string, suffix: DeviceTopicSuffix) => (id: string) =>
  `${prefix}${checkDeviceId(id)}/${suffix}`;
const node = (suffix: NodeTopicSuffix) => (name: string) => {
  checkLevel(name, 'node', name);
  return `${HW_NODE}${name}/${suffix}`;
};

/** `$hw/events/device/{id}/twin/update`: a mapper or app updates twins. */
export const twinUpdate = device(HW_DEVICE, 'twin/update');
/** `…/twin/update/result`: edgecore answers an update. */
export const twinUpdateResult = device(HW_DEVICE, 'twin/update/result');
/** `…/twin/update/delta`: edgecore publishes desired values that differ from the reported ones. */
export const twinUpdateDelta = device(HW_DEVICE, 'twin/update/delta');
/** `…/twin/update/document`: edgecore publishes each change, before and after. */
export const twinUpdateDocument = device(HW_DEVICE, 'twin/update/document');
/** `…/twin/get`: asks edgecore for every twin of a device. */
export const twinGet = device(HW_DEVICE, 'twin/get');
/** `…/twin/get/result`: edgecore answers a twin/get. */
export const twinGetResult = device(HW_DEVICE, 'twin/get/result');
/**
 * `…/twin/cloud_updated`: the cloud changed twins. KubeEdge's edgecore takes a cloud sync on it (dtcommon
 * TwinETCloudSyncSuffix, a DeviceTwinUpdate); edgetwin's publishes each cloud sync it applied on it.
 */
export const twinCloudUpdated = device(HW_DEVICE, 'twin/cloud_updated');
/** `…/state/update`: a mapper reports its device's state. */
export const stateUpdate = device(HW_DEVICE, 'state/update');
/** `…/state/update/result`: edgecore answers a state update. */
export const stateUpdateResult = device(HW_DEVICE, 'state/update/result');
/** `$ke/events/device/{id}/data/update`: readings that are not twins. */
export const dataUpdate = device(KE_DEVICE, 'data/update');
/** `$hw/events/node/{node}/membership/get`. */
export const membershipGet = node('membership/get');
/** `$hw/events/node/{node}/membership/get/result`. */
export const membershipGetResult = node('membership/get/result');
/** `$hw/events/node/{node}/membership/updated`: devices added to or removed from the node. */
export const membershipUpdated = node('membership/updated');

/** A device topic, taken apart. */
export interface DeviceTopic {
  /** `{namespace}/{name}` */
  id: string;
  namespace: string;
  name: string;
  suffix: DeviceTopicSuffix;
}

/** Takes a device topic apart; undefined when it is not one of KubeEdge's device topics. */
export function parseDeviceTopic(topic: string): DeviceTopic | undefined {
  for (const [prefix, suffixes] of Object.entries(DEVICE_TOPIC_SUFFIXES)) {
    if (!topic.startsWith(prefix)) continue;
    const [namespace, name, ...rest] = topic.slice(prefix.length).split('/');
    const suffix = rest.join('/');
    if (!namespace || !name || !(suffixes as readonly string[]).includes(suffix)) return undefined;
    if (/[+#\0]/.test(namespace + name)) return undefined;
    return { id: `${namespace}/${name}`, namespace, name, suffix: suffix as DeviceTopicSuffix };
  }
  return undefined;
}

/** Takes a node topic apart; undefined when it is not one of KubeEdge's node topics. */
export function parseNodeTopic(topic: string): { node: string; suffix: NodeTopicSuffix } | undefined {
  if (!topic.startsWith(HW_NODE)) return undefined;
  const [name, ...rest] = topic.slice(HW_NODE.length).split('/');
  const suffix = rest.join('/');
  if (!name || /[+#\0]/.test(name) || !(NODE_TOPIC_SUFFIXES as readonly string[]).includes(suffix))
    return undefined;
  return { node: name, suffix: suffix as NodeTopicSuffix };
}

/** Whether `filter` is a valid MQTT subscription filter (`+` a whole level, `#` a whole last level). */
export function isValidFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes('\0')) return false;
  const levels = filter.split('/');
  return levels.every((level, i) => {
    if (level.includes('#')) return level === '#' && i === levels.length - 1;
    return !level.includes('+') || level === '+';
  });
}

/**
 * Whether a topic matches an MQTT filter: `+` is one level, `#` the rest (including none). As MQTT says, a
 * filter starting with a wildcard does not match topics starting with `$` (such as `$hw/…`).
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
