import { type Static, Type } from '@sinclair/typebox';
import { Closed, Millis, ObjectMeta, StringMap } from './common.js';
import { API_VERSION } from './device-model.js';

const ReportedValue = Closed({
  value: Type.String(),
  metadata: Type.Optional(StringMap),
});

export const Twin = Closed({
  propertyName: Type.String({ minLength: 1 }),
  reported: Type.Optional(ReportedValue),
  observedDesired: Type.Optional(ReportedValue),
});
export type Twin = Static<typeof Twin>;

export const DEVICE_STATES = ['online', 'offline', 'ok', 'unknown', 'unhealthy'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

/** The status block: DeviceStatus.status in KubeEdge 1.23, Device.status before it. */
export const DeviceStatusFields = Closed({
  twins: Type.Optional(Type.Array(Twin)),
  state: Type.Optional(Type.String({ description: 'online, offline, ok, unknown or unhealthy' })),
  lastOnlineTime: Type.Optional(Type.String()),
  reportToCloud: Type.Optional(Type.Boolean()),
  reportCycle: Type.Optional(Millis('How often device state is reported, in ms.')),
});
export type DeviceStatusFields = Static<typeof DeviceStatusFields>;

export const DeviceStatus = Closed({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.Literal('DeviceStatus'),
  metadata: ObjectMeta,
  status: Type.Optional(DeviceStatusFields),
});
export type DeviceStatus = Static<typeof DeviceStatus>;
