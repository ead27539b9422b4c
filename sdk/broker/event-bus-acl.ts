import { timingSafeEqual } from 'node:crypto';
import { parseDeviceTopic, parseNodeTopic } from '../eventbus/topics.js';
import type { BrokerAccess, BrokerPrincipal } from './access.js';

/**
 * The roles of KubeEdge's EventBus on the embedded broker:
 * - `mapper` (of one protocol): its own devices' `twin/update`, `state/update`, `twin/get` and
 *   `$ke/…/data/update`, and `membership/get`; it reads its own devices' topics (deltas, results) and the node's.
 * - `readwrite` (an app): reads every topic; publishes `twin/update` (desired values) and the get requests.
 * - `read` (an app): reads every topic; publishes only `twin/get` and `membership/get`.
 * - `all` (KubeEdge-style anonymous clients, when the broker is opened): anything but the edge's outputs.
 * Nobody may publish the edge's outputs (`…/twin/update/result|delta|document`, `…/twin/get/result`,
 * `…/twin/cloud_updated`, `…/state/update/result`, `membership/get/result`, `membership/updated`) or `$SYS/…`:
 * edgecore publishes them in-process, where no ACL applies. Topics without `$` are free for every role that
 * publishes at all (push methods, apps' own topics).
 */
export type EventBusRole =
  | { kind: 'read' }
  | { kind: 'readwrite' }
  | { kind: 'mapper'; protocol: string }
  | { kind: 'all' };

export interface EventBusPrincipal extends BrokerPrincipal {
  readonly grant: EventBusRole;
}

/** An account: its password and its role. */
export interface EventBusAccount {
  password: string;
  role: EventBusRole;
}

export interface EventBusAclOptions {
  /** The account of a username, or undefined when there is none. */
  account(username: string): EventBusAccount | undefined;
  /** The protocol of device `{namespace}/{name}`, or undefined when the edge does not run it. */
  protocolOf(id: string): string | undefined;
}

/** What edgecore alone publishes, after `{namespace}/{name}/`. */
const DEVICE_OUTPUTS: ReadonlySet<string> = new Set([
  'twin/update/result',
  'twin/update/delta',
  'twin/update/document',
  'twin/get/result',
  'twin/cloud_updated',
  'state/update/result',
]);
const MAPPER_DEVICE_TOPICS: ReadonlySet<string> = new Set([
  'twin/update',
  'state/update',
  'twin/get',
  'data/update',
]);
const APP_DEVICE_TOPICS: Record<'read' | 'readwrite', ReadonlySet<string>> = {
  read: new Set(['twin/get']),
  readwrite: new Set(['twin/update', 'twin/get']),
};
/** Filter prefixes a mapper may subscribe under with wildcards (each message is then checked by `canRead`). */
const MAPPER_FILTER_PREFIXES = ['$hw/events/device/', '$ke/events/device/', '$hw/events/node/'];

const isSys = (topic: string) => topic.startsWith('$SYS');
const hasWildcard = (filter: string) => filter.includes('+') || filter.includes('#');

/** Credentials and the per-topic ACL above. */
export function eventBusAcl(options: EventBusAclOptions): BrokerAccess<EventBusPrincipal> {
  const owns = (role: EventBusRole, id: string) =>
    role.kind === 'mapper' && options.protocolOf(id) === role.protocol;
  const canRead = (p: EventBusPrincipal, topic: string): boolean => {
    const role = p.grant;
    if (isSys(topic)) return role.kind === 'all';
    if (role.kind !== 'mapper') return true;
    if (!topic.startsWith('$')) return true;
    const device = parseDeviceTopic(topic);
    if (device) return owns(role, device.id);
    return parseNodeTopic(topic) !== undefined;
  };
  return {
    authenticate(username, password) {
      if (username === undefined) return undefined;
      const account = options.account(username);
      if (!account || !sameSecret(password ?? Buffer.alloc(0), Buffer.from(account.password)))
        return undefined;
      return principal(username, account.role);
    },
    canPublish(p, topic) {
      const role = p.grant;
      if (!topic.startsWith('$')) return role.kind !== 'read';
      if (isSys(topic)) return false;
      const device = parseDeviceTopic(topic);
      if (device) {
        if (DEVICE_OUTPUTS.has(device.suffix)) return false;
        if (role.kind === 'all') return true;
        if (role.kind === 'mapper') return MAPPER_DEVICE_TOPICS.has(device.suffix) && owns(role, device.id);
        return APP_DEVICE_TOPICS[role.kind].has(device.suffix);
      }
      const node = parseNodeTopic(topic);
      if (node) return node.suffix === 'membership/get';
      return role.kind === 'all';
    },
    canSubscribe(p, filter) {
      if (!hasWildcard(filter)) return canRead(p, filter);
      if (isSys(filter)) return p.grant.kind === 'all';
      if (p.grant.kind !== 'mapper' || !filter.startsWith('$')) return true;
      return MAPPER_FILTER_PREFIXES.some((prefix) => filter.startsWith(prefix));
    },
    canRead,
  };
}

/** KubeEdge's internal broker: every client anonymous and alike (role `all`), credentials or none. */
export function openEventBusAcl(): BrokerAccess<EventBusPrincipal> {
  const acl = eventBusAcl({ account: () => undefined, protocolOf: () => undefined });
  const anonymous = principal('', { kind: 'all' });
  return { ...acl, authenticate: () => anonymous };
}

function principal(username: string, grant: EventBusRole): EventBusPrincipal {
  const role = grant.kind === 'mapper' ? `mapper:${grant.protocol}` : grant.kind;
  return { username, role, grant };
}

/** Constant-time comparison, so that the time taken does not tell how much of a secret was right. */
export function sameSecret(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
