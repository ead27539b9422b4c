import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { ErrorObject } from 'ajv';
import { validatorFor } from './ajv.js';
import { StringEnum, TWIN_KEY_PATTERN } from './schema/common.js';
import { PROPERTY_TYPES } from './schema/device-model.js';
import { DEVICE_STATES } from './schema/device-status.js';
import { TWIN_VALUE_TYPES } from './values.js';

/**
 * The payloads KubeEdge's edge EventBus carries (DESIGN.md §4), as schemas with their inferred types.
 *
 * Reading rules, the same for every payload:
 * - unknown fields are allowed (other software adds its own), but known fields are type-checked;
 * - what KubeEdge's edgecore reads without it is optional here: `event_id` and `timestamp` on every input
 *   (KubeEdge's mappers send `"event_id": ""`, its examples send neither); a field KubeEdge always writes on
 *   an output is required;
 * - where KubeEdge's Go code takes `null` (a nil pointer, map or slice, or a zero value), `null` is accepted.
 */

/** KubeEdge's limit on a twin value's length. */
export const TWIN_VALUE_MAX_LENGTH = 512;

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

/**
 * What every EventBus payload starts with. Both fields are optional on input, as KubeEdge's edgecore reads
 * them (Go's zero values); what edgetwin publishes always has both. A result echoes its request's
 * `event_id`, or carries `""` when the request had none, as KubeEdge's do.
 */
export const BaseMessage = Open({
  event_id: Type.Optional(
    Nullable(
      Type.String({ description: 'A random UUID; a result echoes its request’s ("" if it had none).' }),
    ),
  ),
  timestamp: Type.Optional(Nullable(Type.Integer({ description: 'ms since the epoch' }))),
});
export type BaseMessage = Static<typeof BaseMessage>;

/** A twin's value type, from KubeEdge's set: what edgetwin publishes. */
export const TwinValueType = StringEnum(TWIN_VALUE_TYPES, 'How the value string is parsed.');
export type TwinValueType = Static<typeof TwinValueType>;

/** The device states edgetwin's mappers publish on `state/update`. */
export const DeviceStateName = StringEnum(DEVICE_STATES, 'online, offline, ok, unknown or unhealthy');
export type DeviceStateName = Static<typeof DeviceStateName>;

/**
 * The states `state/update` takes, in any case: KubeEdge's (dtmanager dealDeviceStateUpdate lower-cases the
 * state and takes online, offline, ok, unknown and disconnected; mappers-go sends "OK" and "DISCONNECTED"),
 * and edgetwin's `unhealthy`.
 */
export const STATE_UPDATE_STATES = [...DEVICE_STATES, 'disconnected'] as const;
/** A state a `…/state/update` may carry: a device state, or KubeEdge mappers' `disconnected`. */
export type StateUpdateState = (typeof STATE_UPDATE_STATES)[number];

/** A `state/update` state in the lower-case form it is stored and published in, or undefined for any other. */
export function stateNamed(state: string): StateUpdateState | undefined {
  const lower = state.toLowerCase();
  return (STATE_UPDATE_STATES as readonly string[]).includes(lower) ? (lower as StateUpdateState) : undefined;
}

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

/** A twin's type: `type` read as KubeEdge's edgecore reads it, and edgetwin's finer `modelType`. */
export const TwinTypeMetadata = Open({
  type: Type.Optional(
    Nullable(
      Type.String({
        description:
          `One of ${TWIN_VALUE_TYPES.join(', ')} (what edgetwin publishes, and KubeEdge's edgecore takes). On ` +
          'input a live twin keeps its type whatever comes, as in KubeEdge; a new twin takes these, none or "" ' +
          '(string), and the lower-case model types double (float), bytes and stream (string).',
      }),
    ),
  ),
  // Unknown rather than an enum: KubeEdge's TypeMetadata drops keys it does not know, so no value of it may
  // refuse a payload; the twin keeps a DeviceModel type that fits `type` and ignores any other.
  modelType: Type.Optional(
    Type.Unknown({
      description:
        'Beyond KubeEdge (whose TypeMetadata has no such field): the DeviceModel type where `type` loses it, ' +
        `DOUBLE (a float), BYTES or STREAM (strings). One of ${PROPERTY_TYPES.join(', ')} when edgetwin writes it.`,
    }),
  ),
});
export type TwinTypeMetadata = Static<typeof TwinTypeMetadata>;

/**
 * One twin (one device property): desired (`expected`) and reported (`actual`) value, type and versions.
 * `expected_version`/`actual_version` on an edge update are ignored, as KubeEdge ignores them (the edge bumps
 * its own counter); `if_expected_version` is edgetwin's opt-in condition.
 */
export const MsgTwin = Open({
  expected: Type.Optional(Nullable(MsgTwinValue)),
  actual: Type.Optional(Nullable(MsgTwinValue)),
  optional: Type.Optional(Nullable(Type.Boolean())),
  metadata: Type.Optional(Nullable(TwinTypeMetadata)),
  expected_version: Type.Optional(Nullable(MsgTwinVersion)),
  actual_version: Type.Optional(Nullable(MsgTwinVersion)),
  if_expected_version: Type.Optional(
    Nullable(
      Open(
        { cloud: Type.Integer({ minimum: 0 }), edge: Type.Integer({ minimum: 0 }) },
        'Beyond KubeEdge, on an edge `twin/update` only (KubeEdge never sends it, and its decoders drop it): ' +
          'apply the whole update only if this twin’s `expected_version` is still this one, else answer 409 ' +
          '(an optimistic check, as AWS IoT shadows do). Never stored nor published.',
      ),
    ),
  ),
});
export type MsgTwin = Static<typeof MsgTwin>;

/** Twins by property name; `null` deletes (an update) or reports a deleted twin (a result). */
export const MsgTwinMap = KeyedBy(Nullable(MsgTwin), 'Twins by property name.');
export type MsgTwinMap = Static<typeof MsgTwinMap>;

/** `$hw/events/device/{id}/twin/update`: a mapper or app updates twins. */
export const TwinUpdate = Open({ ...BaseMessage.properties, twin: MsgTwinMap });
export type TwinUpdate = Static<typeof TwinUpdate>;

/**
 * `…/twin/update/result`: the changed twins, or `code`/`reason` (400, 404, 409, 503) when the update failed.
 * Either way it echoes the update's `event_id` ("" when it had none).
 */
export const TwinUpdateResult = Open({
  ...BaseMessage.properties,
  twin: Type.Optional(Nullable(MsgTwinMap)),
  code: Type.Optional(Type.Integer()),
  reason: Type.Optional(Type.String()),
});
export type TwinUpdateResult = Static<typeof TwinUpdateResult>;

/**
 * `…/twin/update/delta`: as KubeEdge's BuildDeviceTwinDelta, every twin that has an expected value (not the
 * deleted ones), and the expected value of each whose actual differs.
 */
export const TwinDelta = Open({
  ...BaseMessage.properties,
  twin: KeyedBy(MsgTwin, 'Every live twin with an expected value.'),
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

/**
 * `…/state/update`: a mapper reports its device's state, one of STATE_UPDATE_STATES in any case (checked by
 * the twin module with stateNamed, which answers any other with a 400).
 */
export const StateUpdate = Open({
  ...BaseMessage.properties,
  state: Type.String({ description: 'online, offline, ok, unknown, disconnected or unhealthy, in any case' }),
});
export type StateUpdate = Static<typeof StateUpdate>;

/**
 * `…/state/update/result`: KubeEdge's `{device: {name, state, last_online}}` (each left out when empty).
 * edgetwin writes `last_online` as ISO 8601; `lastOnlineTime`, an older edgetwin's name, is read too.
 */
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

/**
 * `$hw/events/node/{node}/membership/get/result`: the node's devices, as KubeEdge's BuildMembershipGetResult
 * lists them (id, name, description, state, last_online, attributes; no twins).
 */
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

/**
 * An error on a `…/result` topic: `code` is HTTP-like (400 bad payload, 404, 409, 413 too large, 503 not
 * stored). `event_id` is always there, as in KubeEdge's Result: the request's, or "" when it had none (or
 * could not be read).
 */
export const ErrorResult = Open({
  event_id: Type.String(),
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
