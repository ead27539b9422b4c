import { type Static, Type } from '@sinclair/typebox';
import { Closed, FreeFormOf, Millis, ObjectMeta, Open, StringMap } from './common.js';
import { API_VERSION } from './device-model.js';

const ReportedValue = Closed({
  value: Type.String(),
  metadata: Type.Optional(StringMap),
});

/** One property's twin in a DeviceStatus: its desired (`observedDesired`) and reported values. */
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

const twinsAndState = {
  twins: Type.Optional(Type.Array(Twin)),
  state: Type.Optional(Type.String({ description: 'online, offline, ok, unknown or unhealthy' })),
  lastOnlineTime: Type.Optional(Type.String()),
};

/**
 * `Device.status`. KubeEdge's CRD knows only reportToCloud/reportCycle there and keeps any other field
 * (`x-kubernetes-preserve-unknown-fields`); before KubeEdge 1.23 the twins, state and lastOnlineTime lived here,
 * and edgetwin's cloudcore can still write them here, so they are typed too.
 */
export const DeviceStatusFields = Open({
  ...twinsAndState,
  reportToCloud: Type.Optional(Type.Boolean()),
  reportCycle: Type.Optional(Millis('How often device state is reported, in ms.')),
});
export type DeviceStatusFields = Static<typeof DeviceStatusFields>;

/** `DeviceStatus.status` (KubeEdge 1.23+): the twins and state of the Device of the same name. */
export const DeviceStatusStatus = Closed({
  ...twinsAndState,
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
