import { type Static, Type } from '@sinclair/typebox';
import { StringEnum } from './schema/common.js';

/**
 * The edge ↔ cloud link's messages (DESIGN.md §6): KubeEdge's beehive envelope
 * `{header, route, content}` carried as JSON text frames over a WebSocket (TLS, client certificates).
 *
 * Resources, `{node}` being the node the message is for or from:
 * - `node/{node}/{ns}/device/{name}`   cloud → edge: `insert`/`update` (content HubDevice), `delete`;
 *                                       edge → cloud: `query` (answered with HubDevice or a refusal)
 * - `node/{node}/membership`           cloud → edge `update`: every device the node has now (HubMembership)
 * - `node/{node}/device/{ns}/{name}/twin/edge_updated`  edge → cloud `update`: twins (HubTwins)
 * - `node/{node}/device/{ns}/{name}/state`              edge → cloud `update`: HubState
 * - `node/{node}`                     edge → cloud `keepalive` (content HubKeepalive, or none from an older edge):
 *                                       sent on connect and on each of the cloud's pings; never answered
 * Every message except `response` and `keepalive` is answered with a `response` whose `parent_msg_id` is its
 * `msg_id` and whose content is HubResponse: code 200 once the receiver has stored it (the sender resends
 * until then), 4xx for a message that will never be accepted (the sender drops it).
 */

export const HUB_OPERATIONS = [
  'insert',
  'delete',
  'update',
  'patch',
  'query',
  'response',
  'upload',
  'keepalive',
] as const;
export type HubOperation = (typeof HUB_OPERATIONS)[number];

export const HubMessage = Type.Object({
  header: Type.Object({
    msg_id: Type.String({ minLength: 1 }),
    parent_msg_id: Type.Optional(Type.String()),
    timestamp: Type.Integer({ minimum: 0, description: 'ms since the epoch' }),
    resourceversion: Type.Optional(Type.String()),
    sync: Type.Optional(Type.Boolean()),
  }),
  route: Type.Object({
    source: Type.String(),
    group: Type.String(),
    operation: StringEnum(HUB_OPERATIONS, 'What to do with the resource.'),
    resource: Type.String({ minLength: 1 }),
  }),
  content: Type.Unknown(),
});
export type HubMessage = Static<typeof HubMessage>;

/** A device and its model, as the Kubernetes API holds them. */
export const HubDevice = Type.Object({
  device: Type.Object({}, { additionalProperties: true }),
  model: Type.Object({}, { additionalProperties: true }),
});
export type HubDevice = Static<typeof HubDevice>;

export const HubMembership = Type.Object({
  devices: Type.Array(Type.Object({ key: Type.String(), resourceVersion: Type.String() })),
});
export type HubMembership = Static<typeof HubMembership>;

export const HubTwins = Type.Object({
  twin: Type.Record(Type.String(), Type.Unknown(), { description: 'MsgTwinMap, checked by the receiver.' }),
});

export const HubState = Type.Object({
  state: Type.String({ minLength: 1 }),
  lastOnlineTime: Type.Optional(Type.String()),
});
export type HubState = Static<typeof HubState>;

/**
 * What an edge says of itself with each keepalive. Every field is optional, so that an older edge (which sends no
 * keepalive, or one with other content) and a newer one both work, and fields can be added without breaking either.
 */
export const HubKeepalive = Type.Object(
  {
    outboxDepth: Type.Optional(
      Type.Integer({
        minimum: 0,
        description: 'Twin reports waiting in the edge outbox for an acknowledgement.',
      }),
    ),
  },
  { additionalProperties: true },
);
export type HubKeepalive = Static<typeof HubKeepalive>;

export const HubResponse = Type.Object({
  code: Type.Integer(),
  reason: Type.Optional(Type.String()),
});
export type HubResponse = Static<typeof HubResponse>;

/** A parsed resource: what it is about. */
export type HubResource =
  | { kind: 'device'; node: string; key: string }
  | { kind: 'membership'; node: string }
  | { kind: 'twin'; node: string; key: string }
  | { kind: 'state'; node: string; key: string };

export const hubResources = {
  device: (node: string, key: string) => {
    const [namespace, name] = key.split('/');
    return `node/${node}/${namespace}/device/${name}`;
  },
  membership: (node: string) => `node/${node}/membership`,
  keepalive: (node: string) => `node/${node}`,
  twin: (node: string, key: string) => `node/${node}/device/${key}/twin/edge_updated`,
  state: (node: string, key: string) => `node/${node}/device/${key}/state`,
};

/** Reads a resource string; undefined for one this link does not carry. */
export function parseHubResource(resource: string): HubResource | undefined {
  const parts = resource.split('/');
  if (parts[0] !== 'node' || !parts[1] || parts.some((p) => p === '')) return undefined;
  const node = parts[1];
  if (parts.length === 3 && parts[2] === 'membership') return { kind: 'membership', node };
  if (parts.length === 5 && parts[3] === 'device')
    return { kind: 'device', node, key: `${parts[2]}/${parts[4]}` };
  if (parts.length === 7 && parts[2] === 'device' && parts[5] === 'twin' && parts[6] === 'edge_updated')
    return { kind: 'twin', node, key: `${parts[3]}/${parts[4]}` };
  if (parts.length === 6 && parts[2] === 'device' && parts[5] === 'state')
    return { kind: 'state', node, key: `${parts[3]}/${parts[4]}` };
  return undefined;
}

/** A new message; `parent` makes it the response to that message. */
export function hubMessage(
  source: string,
  operation: HubOperation,
  resource: string,
  content: unknown,
  header: { parent?: string; resourceVersion?: string } = {},
): HubMessage {
  return {
    header: {
      msg_id: crypto.randomUUID(),
      timestamp: Date.now(),
      ...(header.parent ? { parent_msg_id: header.parent } : {}),
      ...(header.resourceVersion ? { resourceversion: header.resourceVersion } : {}),
    },
    route: { source, group: operation === 'response' ? 'response' : 'resource', operation, resource },
    content,
  };
}

/**
 * Compares Kubernetes resourceVersions. They are opaque strings to clients, but the API server's come from
 * etcd's revision, a growing integer: compared as such, with a non-numeric one never newer.
 */
export function compareResourceVersions(a: string, b: string): number {
  const digits = /^\d+$/;
  if (!digits.test(a) || !digits.test(b)) return a === b ? 0 : -1;
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
