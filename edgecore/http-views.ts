import { type MsgTwin, propertyInfo, twinReason } from '../device-models/internal.js';
import { computeDelta } from '../twin/rules.js';
import type { EdgeContext } from './context.js';
import type { DeviceSummary, DeviceView, TwinView } from './http-schemas.js';
import type { TwinModule } from './twin-module.js';

const version = (v: MsgTwin['expected_version']) => (v ? `${v.cloud ?? 0}.${v.edge ?? 0}` : undefined);

/**
 * A twin as the HTTP API shows it: desired and reported side by side, with their versions, and the reason the
 * device gave for what it holds (when it gave one). `type` is KubeEdge's, `modelType` the model's where finer.
 */
export function twinView(twin: MsgTwin): TwinView {
  const reason = twinReason(twin.actual?.metadata?.reason);
  const modelType = twin.metadata?.modelType;
  return {
    type: twin.metadata?.type,
    ...(typeof modelType === 'string' && modelType ? { modelType } : {}),
    optional: twin.optional ?? false,
    desired: twin.expected
      ? {
          value: twin.expected.value,
          timestamp: twin.expected.metadata?.timestamp,
          version: version(twin.expected_version),
        }
      : null,
    reported: twin.actual
      ? {
          value: twin.actual.value,
          timestamp: twin.actual.metadata?.timestamp,
          version: version(twin.actual_version),
          ...(reason ? { reason } : {}),
        }
      : null,
  };
}

/** Twin views by property; null for a twin that was deleted. */
export function twinViews(twins: Readonly<Record<string, MsgTwin | null>>): Record<string, TwinView | null> {
  const views: Record<string, TwinView | null> = {};
  for (const name in twins) {
    const twin = twins[name];
    views[name] = twin ? twinView(twin) : null;
  }
  return views;
}

/** How the API shows devices: as a list entry, and whole with twins and delta. */
export interface DeviceViews {
  /** The device as GET /api/v1/devices lists it, or undefined when it is not (or no longer) known. */
  summary(id: string): DeviceSummary | undefined;
  /** The device as GET /api/v1/devices/{ns}/{name} shows it, or undefined when it is not known. */
  device(id: string): DeviceView | undefined;
}

/** The views of the devices `ctx` knows, with their twins as `twin` holds them. */
export function deviceViews(ctx: EdgeContext, twin: TwinModule): DeviceViews {
  const summary = (id: string): DeviceSummary | undefined => {
    const device = ctx.devices.get(id);
    if (!device) return undefined;
    const row = ctx.store.device(id);
    return {
      id,
      namespace: device.namespace,
      name: device.name,
      model: device.model.metadata.name,
      protocol: device.protocol,
      state: row?.state || 'unknown',
      lastOnlineTime: row?.lastOnline ?? '',
    };
  };
  return {
    summary,
    device(id) {
      const head = summary(id);
      const twins = twin.twins(id);
      if (!head || !twins) return undefined;
      return {
        ...head,
        twins: twinViews(twins) as Record<string, TwinView>,
        delta: computeDelta(twins),
        properties: propertyInfo(ctx.devices.get(id)!.model),
      };
    },
  };
}
