import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { PropertyInfo } from '../device-models/internal.js';

/**
 * The dashboard API's payloads, as TypeBox schemas: Fastify validates requests and serialises responses with
 * them, `/api/openapi.json` is made from them, and the TypeScript types are inferred from them. The shapes are
 * the edge HTTP API's, plus the node a device is assigned to and whether it is connected.
 */

const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const ValueView = Type.Object({
  value: Type.String(),
  timestamp: Type.Optional(
    Type.Number({ description: 'Milliseconds since the epoch, when the edge gave one.' }),
  ),
});
export type ValueView = Static<typeof ValueView>;

export const DesiredView = Type.Object({
  value: Type.String(),
  timestamp: Type.Optional(Type.Number()),
  version: Type.Optional(
    Type.String({
      description:
        "The Device's metadata.generation, what If-Match takes on a PUT (where Devices have the status " +
        "subresource, as with edgetwin's CRDs, only a change of the spec moves it).",
    }),
  ),
});

export const TwinView = Type.Object({
  type: Type.String({ description: "KubeEdge's twin type: int, float, boolean or string." }),
  modelType: Type.Optional(
    Type.String({ description: 'The model type where `type` loses it (DOUBLE, BYTES, STREAM).' }),
  ),
  optional: Type.Boolean(),
  desired: Nullable(DesiredView),
  reported: Nullable(ValueView),
  observedDesired: Nullable(
    Type.Object(ValueView.properties, { description: 'The desired value the edge last said it holds.' }),
  ),
});
export type TwinView = Static<typeof TwinView>;

export const DeviceSummary = Type.Object({
  id: Type.String({ description: 'namespace/name' }),
  namespace: Type.String(),
  name: Type.String(),
  model: Type.String(),
  protocol: Type.String(),
  state: Type.String({ description: 'The state the edge last reported (online, offline, …), or unknown.' }),
  lastOnlineTime: Type.String(),
  node: Type.String({ description: 'spec.nodeName; empty: not sent to any edge.' }),
  nodeConnected: Type.Boolean({ description: 'Whether that node is connected to this cloudcore now.' }),
});
export type DeviceSummary = Static<typeof DeviceSummary>;

const Twins = Type.Record(Type.String(), TwinView);
const Delta = Type.Record(Type.String(), Type.String(), {
  description: 'The desired value of each twin whose reported value differs from it.',
});

export const DeviceView = Type.Composite([
  DeviceSummary,
  Type.Object({
    twins: Twins,
    delta: Delta,
    properties: Type.Record(Type.String(), PropertyInfo, { description: "The model's properties, by name." }),
  }),
]);
export type DeviceView = Static<typeof DeviceView>;

export const TwinResult = Type.Composite([
  Type.Object({ id: Type.String(), property: Type.String() }),
  TwinView,
]);

export const ErrorBody = Type.Object({
  code: Type.Integer(),
  reason: Type.String(),
  node: Type.Optional(Type.String()),
});

export const DeviceParams = Type.Object({
  namespace: Type.String({ minLength: 1 }),
  name: Type.String({ minLength: 1 }),
});
export const TwinParams = Type.Composite([
  DeviceParams,
  Type.Object({ property: Type.String({ minLength: 1 }) }),
]);

export const DesiredBody = Type.Union(
  [
    Type.Object({ value: Type.Union([Type.String(), Type.Number(), Type.Boolean()]) }),
    Type.String({ description: 'text/plain: the value itself' }),
  ],
  { description: '{"value": "23.5"} (a JSON number or boolean is taken as its text)' },
);

export const DevicesQuery = Type.Object({
  node: Type.Optional(
    Type.String({ description: 'Only the devices of this node (spec.nodeName; empty: of none)' }),
  ),
});

export const EventsQuery = Type.Object({
  device: Type.Optional(Type.String({ description: 'Only this device (`namespace/name`)' })),
});

/** Server-Sent Event `twin`: the twins that changed (null: gone) and the device's whole delta. */
export const TwinEvent = Type.Object({
  id: Type.String(),
  twins: Type.Record(Type.String(), Nullable(TwinView)),
  delta: Delta,
});
export type TwinEvent = Static<typeof TwinEvent>;

/** Server-Sent Event `state`: a device's state, node, or its node's connection changed. */
export const StateEvent = Type.Pick(DeviceSummary, [
  'id',
  'state',
  'lastOnlineTime',
  'node',
  'nodeConnected',
]);
export type StateEvent = Static<typeof StateEvent>;
