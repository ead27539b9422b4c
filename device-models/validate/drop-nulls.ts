import type { TSchema } from '@sinclair/typebox';

interface Walked {
  properties?: Record<string, TSchema>;
  items?: TSchema;
}

/**
 * Removes, in place, every field the schema knows whose value is null, as the Kubernetes API server prunes
 * them from a custom resource (and as Go's JSON decoder leaves a field unset): `configData: null` is no
 * configData. Nulls inside a free-form object (one the schema gives no properties, such as configData) are
 * kept, as the API server keeps them.
 */
export function dropNulls(schema: TSchema, value: unknown): void {
  const { properties, items } = schema as Walked;
  if (Array.isArray(value)) {
    if (items) for (const item of value) dropNulls(items, item);
    return;
  }
  if (typeof value !== 'object' || value === null || !properties) return;
  const object = value as Record<string, unknown>;
  for (const [key, child] of Object.entries(object)) {
    const known = properties[key];
    if (!known) continue;
    if (child === null) delete object[key];
    else dropNulls(known, child);
  }
}
