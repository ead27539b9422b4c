import { type Static, Type } from '@sinclair/typebox';
import type { DeviceModel } from './schema/device-model.js';

/**
 * What the DeviceModel says of a property, as written there: what the edge's and cloudcore's HTTP APIs send
 * with a device, so that the dashboard shows units, bounds and access.
 */
export const PropertyInfo = Type.Object({
  type: Type.Optional(Type.String()),
  accessMode: Type.Optional(Type.String()),
  minimum: Type.Optional(Type.String()),
  maximum: Type.Optional(Type.String()),
  unit: Type.Optional(Type.String()),
  description: Type.Optional(Type.String()),
});
export type PropertyInfo = Static<typeof PropertyInfo>;

/** The model's word on each property by name: type, access, bounds, unit, description (absent ones left out). */
export function propertyInfo(model: DeviceModel | undefined): Record<string, PropertyInfo> {
  const info: Record<string, PropertyInfo> = {};
  for (const p of model?.spec?.properties ?? []) {
    if (!p?.name) continue;
    const { type, accessMode, minimum, maximum, unit, description } = p;
    const entry: PropertyInfo = {};
    for (const [key, value] of Object.entries({ type, accessMode, minimum, maximum, unit, description }))
      if (value !== undefined && value !== null) entry[key as keyof PropertyInfo] = String(value);
    info[p.name] = entry;
  }
  return info;
}
