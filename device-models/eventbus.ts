import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { ErrorObject } from 'ajv';
import { validatorFor } from './ajv.js';
import { StringEnum, TWIN_KEY_PATTERN } from './schema/common.js';
import { PROPERTY_TYPES, type PropertyType } from './schema/device-model.js';
import { DEVICE_STATES } from './schema/device-status.js';

/**
 * The payloads KubeEdge's edge EventBus carries (DESIGN.md §4), as schemas with their inferred types.
 *
 * Reading rules, the same for every payload:
 * - unknown fields are allowed (other software adds its own), but known fields are type-checked;
 * - a field KubeEdge always writes is required here; one it writes with `omitempty` is optional;
 * - where KubeEdge's Go code can write `null` (a nil pointer, map or slice), `null` is accepted.
 */

/** KubeEdge's limit on a twin value's length. */
export const TWIN_VALUE_MAX_LENGTH = 512;

const KUBEEDGE_VALUE_TYPES = ['string', 'int', 'integer', 'float', 'boolean', 'deleted'] as const;

/**
 * `metadata.type` of a twin: KubeEdge's names plus the lower-cased model types edgetwin reports
 * (`double`, `bytes`, `stream`).
 */
export const TWIN_VALUE_TYPES: readonly ((typeof KUBEEDGE_VALUE_TYPES)[number] | Lowercase<PropertyType>)[] =
  [
    ...new Set([
      ...KUBEEDGE_VALUE_TYPES,
      ...PROPERTY_TYPES.map((t) => t.toLowerCase() as Lowercase<PropertyType>),
    ]),
  ];

/** The same schema, also accepting `null`. */
function Nullable<T extends TSchema>(schema: T) {
  const type = (schema as { type?: string | string[] }).type;
  if (typeof type !== 'string') throw new TypeError('Nullable needs a schema with a single type');
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [type, 'null'] });
}

/** A map keyed by twin key (KubeEdge's key pattern), each value checked against `value`. */
function KeyedBy<T extends TSchema>(value: T, description: string) {
  return Type.Unsafe<Record<string, Static<T>>>({
    type: 'object',
    propertyNames: { type: 'string', pattern: TWIN_KEY_PATTERN },
    additionalProperties: value,
    description,
  });
}

/** An object whose unknown fields are tolerated. */
function Open<T extends Record<string, TSchema>>(properties: T, description?: string) {
  return Type.Object(properties, { additionalProperties: true, ...(description ? { description } : {}) });
}

const Millis = Type.Integer({ minimum: 0, description: 'ms since the epoch' });

/** What every EventBus payload starts with. */
export const BaseMessage = Open({
  event_id: Type.String({ description: 'A random UUID; results echo the request’s.' }),
  timestamp: Millis,
});
export type BaseMessage = Static<typeof BaseMessage>;

/** A twin's value type, lower case. */
export const TwinValueType = StringEnum(TWIN_VALUE_TYPES, 'How the value string is parsed.');
export type TwinValueType = Static<typeof TwinValueType>;

/** The device states `state/update` carries. */
export const DeviceStateName = StringEnum(DEVICE_STATES, 'online, offline, ok, unknown or unhealthy');
export type DeviceStateName = Static<typeof DeviceStateName>;

/** Beyond KubeEdge: the longest `reason` a reported value keeps; a longer one is cut, never refused. */
export const TWIN_REASON_MAX_LENGTH = 256;

/** An expected or actual value; `null` (or no value) clears it. */
export const MsgTwinValue = Open({
  value: Type.Optional(Nullable(Type.String({ maxLength: TWIN_VALUE_MAX_LENGTH }))),
  metadata: Type.Optional(
    Nullable(
      Open({
        timestamp: Type.Optional(Millis),
        // Unknown rather than String: KubeEdge's ValueMetadata ignores keys it does not know, so a payload
        // with some other `reason` must not be refused; twinReason() keeps strings only.
        reason: Type.Optional(
          Type.Unknown({
            description:
              'Beyond KubeEdge, on `actual`: why the device holds this value rather than the expected one ' +
              `(a string, cut to ${TWIN_REASON_MAX_LENGTH} characters). The next actual without one clears it.`,
          }),
        ),
      }),
    ),
  ),
});
export type MsgTwinValue = Static<typeof MsgTwinValue>;

/** A reported value's `reason` as it is kept: a non-empty string cut to TWIN_REASON_MAX_LENGTH, else undefined. */
export function twinReason(reason: unknown): string | undefined {
  if (typeof reason !== 'string' || reason === '') return undefined;
  if (reason.length <= TWIN_REASON_MAX_LENGTH) return reason;
  let end = TWIN_REASON_MAX_LENGTH - 1; // room for the ellipsis
  const last = reason.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // never half a surrogate pair
  return `${reason.slice(0, end)}…`;
}

/** A twin version: bumped by the cloud and by the edge respectively. */
export const MsgTwinVersion = Open({
  cloud: Type.Integer({ minimum: 0 }),
  edge: Type.Integer({ minimum: 0 }),
});
export type MsgTwinVersion = Static<typeof MsgTwinVersion>;

/** One twin (one device property): desired (`expected`) and reported (`actual`) value, type and versions. */
export const MsgTwin = Open({
  expected: Type.Optional(Nullable(MsgTwinValue)),
  actual: Type.Optional(Nullable(MsgTwinValue)),
  optional: Type.Optional(Nullable(Type.Boolean())),
  metadata: Type.Optional(Nullable(Open({ type: Type.Optional(TwinValueType) }))),
  expected_version: Type.Optional(Nullable(MsgTwinVersion)),
  actual_version: Type.Optional(Nullable(MsgTwinVersion)),
});
export type MsgTwin = Static<typeof MsgTwin>;

/** Twins by property name; `null` deletes (an update) or reports a deleted twin (a result). */
export const MsgTwinMap = KeyedBy(Nullable(MsgTwin), 'Twins by property name.');
export type MsgTwinMap = Static<typeof MsgTwinMap>;

/** `$hw/events/device/{id}/twin/update`: a mapper or app updates twins. */
export const TwinUpdate = Open({ ...BaseMessage.properties, twin: MsgTwinMap });
export type TwinUpdate = Static<typeof TwinUpdate>;

/** `…/twin/update/result`: the changed twins, or `code`/`reason` (400, 404, 409) when the update failed. */
export const TwinUpdateResult = Open({
  ...BaseMessage.properties,
  twin: Type.Optional(Nullable(MsgTwinMap)),
  code: Type.Optional(Type.Integer()),
  reason: Type.Optional(Type.String()),
});
export type TwinUpdateResult = Static<typeof TwinUpdateResult>;

/** `…/twin/update/delta`: every twin, and the expected value of each twin whose actual differs. */
export const TwinDelta = Open({
  ...BaseMessage.properties,
  twin: KeyedBy(MsgTwin, 'Every twin of the device.'),
  delta: KeyedBy(Type.String(), 'Expected value by property, where it differs from the actual one.'),
});
export type TwinDelta = Static<typeof TwinDelta>;

/** One twin's state before and after an update. */
export const TwinDocEntry = Open({ last: Nullable(MsgTwin), current: Nullable(MsgTwin) });
export type TwinDocEntry = Static<typeof TwinDocEntry>;

/** `…/twin/update/document`: each changed twin, before and after. */
export const TwinDocument = Open({
  ...BaseMessage.properties,
  twin: KeyedBy(TwinDocEntry, 'Changed twins, before and after.'),
});
export type TwinDocument = Static<typeof TwinDocument>;

/** `…/twin/get`: asks for every twin of a device. */
export const TwinGet = BaseMessage;
export type TwinGet = Static<typeof TwinGet>;

/** `…/twin/get/result`: every twin of the device (or `code`/`reason`). */
export const TwinGetResult = TwinUpdateResult;
export type TwinGetResult = Static<typeof TwinGetResult>;

/** `…/state/update`: a mapper reports its device's state. */
export const StateUpdate = Open({ ...BaseMessage.properties, state: DeviceStateName });
export type StateUpdate = Static<typeof StateUpdate>;

/** `…/state/update/result`. KubeEdge writes `last_online`; DESIGN.md names it `lastOnlineTime`: both are read. */
export const StateUpdateResult = Open({
  ...BaseMessage.properties,
  device: Open({
    name: Type.Optional(Type.String()),
    state: Type.Optional(Type.String()),
    last_online: Type.Optional(Type.String()),
    lastOnlineTime: Type.Optional(Type.String()),
  }),
});
export type StateUpdateResult = Static<typeof StateUpdateResult>;

/** A device attribute (membership payloads). */
export const MsgAttr = Open({
  value: Type.String(),
  optional: Type.Optional(Nullable(Type.Boolean())),
  metadata: Type.Optional(Nullable(Open({ type: Type.Optional(Type.String()) }))),
});
export type MsgAttr = Static<typeof MsgAttr>;

/** A device as membership payloads carry it; every field is optional, as in KubeEdge. */
export const MembershipDevice = Open({
  id: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
  state: Type.Optional(Type.String()),
  last_online: Type.Optional(Type.String()),
  attributes: Type.Optional(Nullable(KeyedBy(Nullable(MsgAttr), 'Attributes by name.'))),
  twin: Type.Optional(Nullable(MsgTwinMap)),
});
export type MembershipDevice = Static<typeof MembershipDevice>;

const Devices = Nullable(Type.Array(MembershipDevice));

/** `$hw/events/node/{node}/membership/get`. */
export const MembershipGet = BaseMessage;
export type MembershipGet = Static<typeof MembershipGet>;

/** `$hw/events/node/{node}/membership/get/result`: the node's devices. */
export const MembershipGetResult = Open({ ...BaseMessage.properties, devices: Devices });
export type MembershipGetResult = Static<typeof MembershipGetResult>;

/** `$hw/events/node/{node}/membership/updated`: devices added to and removed from the node. */
export const MembershipUpdated = Open({
  ...BaseMessage.properties,
  added_devices: Devices,
  removed_devices: Devices,
});
export type MembershipUpdated = Static<typeof MembershipUpdated>;

/** One non-twin reading. */
export const DataValue = Open({
  value: Type.String(),
  metadata: Open({ type: TwinValueType, timestamp: Millis }),
});
export type DataValue = Static<typeof DataValue>;

/** `$ke/events/device/{id}/data/update`: readings that are not twins. */
export const DataUpdate = Open({
  ...BaseMessage.properties,
  data: KeyedBy(DataValue, 'Readings by property name.'),
});
export type DataUpdate = Static<typeof DataUpdate>;

/** An error on a `…/result` topic: `code` is HTTP-like (400 bad payload, 404, 409, 413 too large). */
export const ErrorResult = Open({
  event_id: Type.Optional(Type.String()),
  timestamp: Millis,
  code: Type.Integer(),
  reason: Type.String(),
});
export type ErrorResult = Static<typeof ErrorResult>;

/**
 * Why `data` is not a valid `schema` payload, as one line a person can act on (each problem with its JSON
 * pointer, at most five), or undefined when it is valid.
 */
export function payloadProblem(schema: TSchema, data: unknown): string | undefined {
  const validate = validatorFor(schema);
  if (validate(data)) return undefined;
  const lines = [...new Set((validate.errors ?? []).map(describe).filter((line) => line !== undefined))];
  if (lines.length === 0) return 'invalid payload';
  return lines.slice(0, 5).join('; ') + (lines.length > 5 ? ` (and ${lines.length - 5} more)` : '');
}

function describe(error: ErrorObject): string | undefined {
  const at = error.instancePath || '/';
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'propertyNames') return undefined; // the error inside it says which key
  if (error.propertyName !== undefined) return `${at}: key "${error.propertyName}" ${error.message}`;
  if (error.keyword === 'required')
    return `${error.instancePath}/${String(params.missingProperty)} is required`;
  if (error.keyword === 'enum')
    return `${at} must be one of ${(params.allowedValues as unknown[]).join(', ')} (got ${show(error.data)})`;
  if (error.keyword === 'type')
    return `${at} must be ${String(params.type).split(',').join(' or ')} (got ${show(error.data)})`;
  return `${at} ${error.message}`;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
