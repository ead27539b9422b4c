import { type Static, Type } from '@sinclair/typebox';
import { Closed, FreeFormOf, Millis, ObjectMeta, Open, StringEnum, StringMap } from './common.js';
import { API_VERSION } from './device-model.js';

const ReportedValue = Closed({
  value: Type.String(),
  metadata: Type.Optional(StringMap),
});

/**
 * One property's twin in a DeviceStatus: its desired (`observedDesired`) and reported values. edgetwin's
 * cloudcore writes `metadata` `timestamp` and `type`, and on `reported` the edge's `reason` when the device
 * does not hold the desired value (beyond KubeEdge; a map[string]string there too). In edgetwin's CRDs
 * `status.twins` is a list-map keyed by `propertyName`, so the API server requires it there; validation does
 * not, as KubeEdge's CRDs do not.
 */
export const Twin = Closed({
  propertyName: Type.Optional(Type.String()),
  reported: Type.Optional(ReportedValue),
  observedDesired: Type.Optional(ReportedValue),
});
export type Twin = Static<typeof Twin>;

/** The states a device can be in, as reported on `…/state/update` and in DeviceStatus. */
export const DEVICE_STATES = ['online', 'offline', 'ok', 'unknown', 'unhealthy'] as const;
/** One of `DEVICE_STATES`. */
export type DeviceState = (typeof DEVICE_STATES)[number];

/** The condition types edgetwin's cloudcore writes in a device's `status.conditions`. */
export const DEVICE_CONDITION_TYPES = ['Reachable', 'TwinSynced', 'MapperReady'] as const;
/** One of `DEVICE_CONDITION_TYPES`. */
export type DeviceConditionType = (typeof DEVICE_CONDITION_TYPES)[number];

/**
 * A condition, shaped as Kubernetes' metav1.Condition (beyond KubeEdge, whose DeviceStatus has none):
 * `Reachable` (the device is online), `TwinSynced` (every desired value is reported), `MapperReady` (a mapper
 * runs the device).
 */
export const Condition = Closed({
  type: Type.String({
    maxLength: 316,
    pattern:
      '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
    description: 'Reachable, TwinSynced or MapperReady.',
  }),
  status: StringEnum(['True', 'False', 'Unknown'] as const),
  observedGeneration: Type.Optional(
    Type.Integer({ minimum: 0, description: "The Device's metadata.generation this condition was set for." }),
  ),
  lastTransitionTime: Type.String({ format: 'date-time', description: 'When status last changed.' }),
  reason: Type.String({
    minLength: 1,
    maxLength: 1024,
    pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
    description: 'Why, in one CamelCase word.',
  }),
  message: Type.String({ maxLength: 32768, description: 'Why, for people.' }),
});
export type Condition = Static<typeof Condition>;

/**
 * A condition as `Device.status` keeps it: KubeEdge's Device CRD keeps any field there, so only `type` (the
 * list-map key in the CRD) is required, the fields printer columns read are strings, and anything else is kept.
 */
export const OpenCondition = Open({
  type: Type.String({ description: 'Reachable, TwinSynced or MapperReady when written by edgetwin.' }),
  status: Type.Optional(Type.String({ description: 'True, False or Unknown.' })),
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  lastTransitionTime: Type.Optional(Type.String()),
});

const twinsAndState = {
  twins: Type.Optional(Type.Array(Twin)),
  state: Type.Optional(Type.String({ description: 'online, offline, ok, unknown or unhealthy' })),
  lastOnlineTime: Type.Optional(Type.String()),
};

/**
 * `Device.status`. KubeEdge's CRD knows only reportToCloud/reportCycle there and keeps any other field
 * (`x-kubernetes-preserve-unknown-fields`); before KubeEdge 1.23 the twins, state and lastOnlineTime lived here,
 * and edgetwin's cloudcore can still write them here, so they are typed too. Where DeviceStatus holds the twins,
 * cloudcore also writes `state`, `conditions` and `observedGeneration` here (not the twins, which change far more
 * often), for `kubectl get devices`. `observedGeneration` (and `lastSeen` when the twins are written here) stay
 * untyped: KubeEdge's CRD keeps them whatever they are.
 */
export const DeviceStatusFields = Open({
  ...twinsAndState,
  conditions: Type.Optional(Type.Array(OpenCondition)),
  reportToCloud: Type.Optional(Type.Boolean()),
  reportCycle: Type.Optional(Millis('How often device state is reported, in ms.')),
});
export type DeviceStatusFields = Static<typeof DeviceStatusFields>;

/** `DeviceStatus.status` (KubeEdge 1.23+): the twins and state of the Device of the same name. */
export const DeviceStatusStatus = Closed({
  ...twinsAndState,
  conditions: Type.Optional(Type.Array(Condition, { description: 'Reachable, TwinSynced and MapperReady.' })),
  lastSeen: Type.Optional(
    Type.String({
      format: 'date-time',
      description: 'Beyond KubeEdge: when the edge last reported this device (kept fresh to about a minute).',
    }),
  ),
  observedGeneration: Type.Optional(
    Type.Integer({
      minimum: 0,
      description: "Beyond KubeEdge: the Device's metadata.generation this reflects.",
    }),
  ),
  extensions: Type.Optional(FreeFormOf('More status information, kept as given.')),
});
export type DeviceStatusStatus = Static<typeof DeviceStatusStatus>;

/** A KubeEdge DeviceStatus: a device's twins and state, as the edge reports them to the cloud. */
export const DeviceStatus = Closed({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.Literal('DeviceStatus'),
  metadata: ObjectMeta,
  spec: Type.Optional(
    Closed({}, 'Empty: the Device it belongs to is the one of the same name (and its owner reference).'),
  ),
  status: Type.Optional(DeviceStatusStatus),
});
export type DeviceStatus = Static<typeof DeviceStatus>;
