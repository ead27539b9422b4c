import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { PropertyInfo } from '../device-models/internal.js';

/**
 * The edge HTTP API's schemas: Fastify validates requests and serialises responses with them, the OpenAPI
 * document (GET /api/openapi.json) is generated from them, and the handlers' types are inferred from them.
 * The shared ones carry an `$id`: registered once (API_SCHEMAS), referenced with refTo, and named so in the
 * document's components.
 */

/** A reference to a shared schema, typed as the schema it names; `description` tells a response's meaning. */
export function refTo<T extends TSchema>(schema: T, description?: string) {
  if (schema.$id === undefined) throw new Error('refTo: the schema has no $id');
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id, description ? { description } : {}));
}

/** Every error: the HTTP status again as `code`, why, and fields naming what was wrong (`segment`, `host`…). */
export const ErrorBody = Type.Object(
  {
    code: Type.Integer({ description: 'The HTTP status.' }),
    reason: Type.String({ description: 'What was wrong, naming the field or parameter.' }),
  },
  {
    $id: 'Error',
    additionalProperties: true,
    description: 'An error, with extra fields naming its subject.',
  },
);
export type ErrorBody = Static<typeof ErrorBody>;

/**
 * `schema` or null, as `type: [T, "null"]` rather than an anyOf: the serialiser writes it without trying each
 * branch, and the OpenAPI 3.0 document shows it `nullable`.
 */
const Nullable = <T extends TSchema & { type: string }>(schema: T) =>
  Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] });

const TwinSide = {
  value: Type.Optional(Nullable(Type.String())),
  timestamp: Type.Optional(Type.Number({ description: 'ms since the epoch' })),
  version: Type.Optional(
    Type.String({ description: '`cloud.edge`: the version to send in If-Match', examples: ['0.3'] }),
  ),
};

/** A twin as the API shows it: desired and reported side by side, with their versions. */
export const TwinView = Type.Object(
  {
    type: Type.Optional(Nullable(Type.String({ description: "KubeEdge's twin type (string, int, float…)" }))),
    modelType: Type.Optional(Type.String({ description: 'The DeviceModel type, where `type` loses it' })),
    optional: Type.Boolean(),
    desired: Nullable(Type.Object(TwinSide)),
    reported: Nullable(
      Type.Object({
        ...TwinSide,
        reason: Type.Optional(Type.String({ description: 'Why the device holds this value, when it said' })),
      }),
    ),
  },
  { $id: 'TwinView' },
);
export type TwinView = Static<typeof TwinView>;

/** A device in the list: who it is, its model and protocol, and its state. */
export const DeviceSummary = Type.Object(
  {
    id: Type.String({ description: '`namespace/name`' }),
    namespace: Type.String(),
    name: Type.String(),
    model: Type.String(),
    protocol: Type.String(),
    state: Type.String({ description: 'online, offline, ok, unknown, unhealthy or disconnected' }),
    lastOnlineTime: Type.String({ description: 'ISO time; "" before the device was ever online' }),
  },
  { $id: 'DeviceSummary' },
);
export type DeviceSummary = Static<typeof DeviceSummary>;

/** Desired value by property, for every property whose reported value differs from it. */
const Delta = Type.Record(Type.String(), Type.String(), {
  description: 'Desired value of each property whose reported value differs',
});

/** A device with its twins and delta. */
export const DeviceView = Type.Object(
  {
    ...DeviceSummary.properties,
    twins: Type.Record(Type.String(), refTo(TwinView)),
    delta: Delta,
    properties: Type.Record(Type.String(), PropertyInfo, { description: "The model's properties, by name." }),
  },
  { $id: 'Device' },
);
export type DeviceView = Static<typeof DeviceView>;

/** What a PUT of a desired value answers: the twin as it now is. */
export const DesiredResult = Type.Object(
  {
    id: Type.String(),
    property: Type.String(),
    ...Type.Partial(TwinView).properties,
  },
  { $id: 'DesiredResult' },
);

/** A desired value as JSON: a string, or a number or boolean taken as its text. */
export const DesiredJson = Type.Object(
  { value: Type.Union([Type.String(), Type.Number(), Type.Boolean()]) },
  { additionalProperties: true },
);

/** GET /healthz. */
export const Health = Type.Object(
  {
    status: Type.String({ description: '"ok", or the problem' }),
    reason: Type.Optional(Type.String()),
    store: Type.Unsafe<'ok' | { writable: boolean; [key: string]: unknown }>({
      description: '"ok", or `{writable: false, code, message, at}`: the error that stops it writing',
    }),
    cloud: Type.String({ description: 'connected, disconnected or not joined' }),
  },
  { $id: 'Health' },
);

/** A twin's reported history, oldest first. */
export const History = Type.Object(
  {
    id: Type.String(),
    property: Type.String(),
    points: Type.Array(
      Type.Object({
        t: Type.Number({ description: 'ms since the epoch' }),
        v: Type.String({ description: 'the reported value' }),
      }),
    ),
  },
  { $id: 'History' },
);
export type History = Static<typeof History>;

/** The path of a device: `/api/v1/devices/{namespace}/{name}`. */
export const DeviceParams = Type.Object({
  namespace: Type.String({ minLength: 1 }),
  name: Type.String({ minLength: 1 }),
});
/** The path of a device's property: `…/{namespace}/{name}/twins/{property}/…`. */
export const TwinParams = Type.Object({
  ...DeviceParams.properties,
  property: Type.String({ minLength: 1 }),
});

/** Most points one history request returns. */
export const HISTORY_MAX_LIMIT = 10_000;
/** Points a history request without `limit` returns at most. */
export const HISTORY_DEFAULT_LIMIT = 1000;

/** The query of a history request. */
export const HistoryQuery = Type.Object({
  since: Type.Optional(
    Type.String({
      description: 'Only points at or after this time: ISO 8601, or ms since the epoch',
      examples: ['2026-01-01T00:00:00Z', '1767225600000'],
    }),
  ),
  limit: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: HISTORY_MAX_LIMIT,
      default: HISTORY_DEFAULT_LIMIT,
      description: 'The newest this many points (since `since`)',
    }),
  ),
});

/** The query of the event stream. */
export const EventsQuery = Type.Object({
  device: Type.Optional(Type.String({ description: 'Only this device (`namespace/name`)' })),
});

/** The shared schemas, registered with the Fastify instance (addSchema) before the routes. */
export const API_SCHEMAS = [ErrorBody, TwinView, DeviceSummary, DeviceView, DesiredResult, Health, History];

/** What each error status means, for the OpenAPI document. */
const MEANING: Record<number, string> = {
  400: 'A parameter, header or body is not valid (the reason names it)',
  404: 'No such device, property or route',
  409: 'If-Match names a desired version that is no longer current',
  413: 'The body is larger than 64 KiB',
  415: 'The content type is neither application/json nor text/plain',
  501: 'This build keeps no twin history',
  503: 'The twin store cannot commit, or too many event streams are open',
};

/** The error responses a route names, each the shared error body. */
export function errors(...codes: number[]): Record<number, ReturnType<typeof refTo<typeof ErrorBody>>> {
  return Object.fromEntries(codes.map((code) => [code, refTo(ErrorBody, MEANING[code] ?? 'An error')]));
}
