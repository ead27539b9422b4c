import { type TSchema, Type } from '@sinclair/typebox';

/**
 * Building blocks shared by the device-model schemas. Two kinds live here:
 * - structural-schema pieces that are legal in a CRD's openAPIV3Schema (used by DeviceModel, Device, DeviceStatus);
 * - `numeric`/`boolish` for protocol configData, which Kubernetes keeps free-form: real manifests write
 *   `port: 502` and `port: "502"`, so both are accepted and normalised to a number by ajv (see ../ajv.ts).
 */

/** KubeEdge's limit on twin keys: property names become twin keys on the EventBus. */
export const TWIN_KEY_PATTERN = '^[a-zA-Z0-9-_.,:/@#]{1,128}$';

/** A Kubernetes object name (DNS-1123 subdomain). */
export const ObjectName = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
});

/** map[string]string, as Go writes it. */
export const StringMap = Type.Unsafe<Record<string, string>>({
  type: 'object',
  additionalProperties: { type: 'string' },
});

/** A free-form object that Kubernetes stores as given (`x-kubernetes-preserve-unknown-fields`). */
export function FreeFormOf(description?: string) {
  return Type.Unsafe<Record<string, unknown>>({
    type: 'object',
    'x-kubernetes-preserve-unknown-fields': true,
    ...(description ? { description } : {}),
  });
}

/** Any JSON object, carried as written (e.g. the `configData` of a protocol without a schema). */
export const FreeForm = FreeFormOf();

/**
 * An object with some known fields that keeps any other field as given (`x-kubernetes-preserve-unknown-fields`),
 * as KubeEdge's `Device.status` does: the known ones are checked, the others are neither checked nor refused.
 */
export function Open<T extends Record<string, TSchema>>(properties: T, description?: string) {
  return Type.Object(properties, {
    additionalProperties: true,
    'x-kubernetes-preserve-unknown-fields': true,
    ...(description ? { description } : {}),
  });
}

/** ObjectMeta: name is required; everything else the API server adds (uid, resourceVersion…) passes through. */
export const ObjectMeta = Type.Object(
  {
    name: ObjectName,
    namespace: Type.Optional(ObjectName),
    labels: Type.Optional(StringMap),
    annotations: Type.Optional(StringMap),
  },
  { additionalProperties: true },
);

/** int64 milliseconds (validation refuses a negative one: no cycle can run on it, see validate/check-object.ts). */
export const Millis = (description: string) => Type.Integer({ description });

/** Bounds and kind of a `Numeric` field. */
export interface NumericOptions {
  integer?: boolean;
  minimum?: number;
  maximum?: number;
  description?: string;
}

/** A number that may be written as a numeric string; validation turns it into a number. */
export function Numeric(options: NumericOptions = {}) {
  const { description, ...numeric } = options;
  return Type.Unsafe<number>({
    type: ['number', 'string'],
    numeric,
    ...(description ? { description } : {}),
  });
}

/** A boolean that may be written as "true"/"false"; validation turns it into a boolean. */
export function Boolish(description?: string) {
  return Type.Unsafe<boolean>({
    type: ['boolean', 'string'],
    boolish: true,
    ...(description ? { description } : {}),
  });
}

/** A string enum as one `enum` keyword: one clear error, and legal in a CRD (unlike `anyOf` of consts). */
export function StringEnum<const T extends readonly string[]>(values: T, description?: string) {
  return Type.Unsafe<T[number]>({
    type: 'string',
    enum: [...values],
    ...(description ? { description } : {}),
  });
}

/** A closed object: unknown fields are reported (a typo such as `colectCycle` must not pass silently). */
export function Closed<T extends Record<string, TSchema>>(properties: T, description?: string) {
  return Type.Object(properties, { additionalProperties: false, ...(description ? { description } : {}) });
}
