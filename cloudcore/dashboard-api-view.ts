import {
  type Device,
  type DeviceModel,
  type DeviceStatusFields,
  type PropertyType,
  propertyInfo,
  sameTwinValue,
  type Twin,
  twinTypeOf,
} from '../device-models/internal.js';
import type { DeviceSummary, DeviceView, TwinView, ValueView } from './dashboard-api-schemas.js';

/**
 * The pure core of cloudcore's dashboard API: what Kubernetes holds for one device (the Device, its model, the
 * status the StatusWriter writes) as the same JSON the edge's HTTP API serves from its twins, plus the node and
 * whether that node is connected to this cloudcore.
 */

/** What Kubernetes holds for one device, as the dashboard's informers have it. */
export interface DeviceRecord {
  device: Device;
  /** Its DeviceModel, when known. */
  model?: DeviceModel;
  /** `status` of its DeviceStatus (or of the Device itself, on clusters where the twins live there). */
  status?: Pick<DeviceStatusFields, 'twins' | 'state' | 'lastOnlineTime'>;
}

/** `namespace/name`, the id the edge and the dashboard use. */
export const deviceId = (device: Device): string =>
  `${device.metadata?.namespace ?? ''}/${device.metadata?.name ?? ''}`;

/** The summary: `state` is the one the edge last reported (`unknown` before any), `node` is spec.nodeName. */
export function deviceSummary(record: DeviceRecord, connected: (node: string) => boolean): DeviceSummary {
  const { device, model, status } = record;
  const node = device.spec?.nodeName ?? '';
  return {
    id: deviceId(device),
    namespace: device.metadata?.namespace ?? '',
    name: device.metadata?.name ?? '',
    model: device.spec?.deviceModelRef?.name ?? '',
    // The device's protocol name, or else its model's (as validation resolves it for the edge).
    protocol: device.spec?.protocol?.protocolName || model?.spec?.protocol || '',
    state: typeof status?.state === 'string' && status.state !== '' ? status.state : 'unknown',
    lastOnlineTime: typeof status?.lastOnlineTime === 'string' ? status.lastOnlineTime : '',
    node,
    nodeConnected: node !== '' && connected(node),
  };
}

/** Every twin: the Device's properties in their order, then those only the status has. */
export function twinViews(record: DeviceRecord): Record<string, TwinView> {
  const { device, model, status } = record;
  const reported = new Map<string, Twin>();
  for (const twin of Array.isArray(status?.twins) ? status.twins : [])
    if (typeof twin?.propertyName === 'string') reported.set(twin.propertyName, twin);
  const names = new Set<string>();
  for (const property of device.spec?.properties ?? []) if (property?.name) names.add(property.name);
  for (const name of reported.keys()) names.add(name);
  // The spec's version (a status write does not move it): what If-Match takes.
  const generation = (device.metadata as { generation?: unknown } | undefined)?.generation;
  const version = typeof generation === 'number' ? String(generation) : undefined;
  const views: Record<string, TwinView> = {};
  for (const name of names) {
    const desired = device.spec?.properties?.find((p) => p?.name === name)?.desired;
    const twin = reported.get(name);
    const modelType = model?.spec?.properties?.find((p) => p?.name === name)?.type;
    const { type, modelType: finer } = typeOf(modelType, twin);
    views[name] = {
      type,
      ...(finer ? { modelType: finer } : {}),
      optional: false,
      desired:
        typeof desired?.value === 'string' && desired.value !== ''
          ? { ...valueView(desired), ...(typeof version === 'string' ? { version } : {}) }
          : null,
      reported: twin?.reported ? valueView(twin.reported) : null,
      observedDesired: twin?.observedDesired ? valueView(twin.observedDesired) : null,
    };
  }
  return views;
}

/**
 * The desired value of every twin whose reported value differs from it (or is missing), compared by type as
 * the edge's delta is (sameTwinValue: "24" and "24.0" are the same INT).
 */
export function twinDelta(twins: Record<string, TwinView>): Record<string, string> {
  const delta: Record<string, string> = {};
  for (const [name, twin] of Object.entries(twins)) {
    const desired = twin.desired?.value;
    if (desired === undefined || desired === '') continue;
    if (!sameTwinValue(twin.type, desired, twin.reported?.value ?? '')) delta[name] = desired;
  }
  return delta;
}

export function deviceView(record: DeviceRecord, connected: (node: string) => boolean): DeviceView {
  const twins = twinViews(record);
  return {
    ...deviceSummary(record, connected),
    twins,
    delta: twinDelta(twins),
    properties: propertyInfo(record.model),
  };
}

/** The twin type as the edge shows it: from the model property, else the type the edge reported, else string. */
function typeOf(
  modelType: PropertyType | undefined,
  twin: Twin | undefined,
): { type: string; modelType?: string } {
  if (modelType) return twinTypeOf(modelType);
  const reportedType = twin?.reported?.metadata?.type ?? twin?.observedDesired?.metadata?.type;
  return { type: reportedType || 'string' };
}

/** A value and, when its metadata has one in milliseconds, its timestamp (the edge's is a number). */
function valueView(value: { value: string; metadata?: Record<string, string> }): ValueView {
  const timestamp = value.metadata?.timestamp;
  return {
    value: value.value,
    ...(typeof timestamp === 'string' && /^\d{1,16}$/.test(timestamp)
      ? { timestamp: Number(timestamp) }
      : {}),
  };
}
