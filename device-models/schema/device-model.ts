import { type Static, Type } from '@sinclair/typebox';
import { Closed, FreeForm, FreeFormOf, ObjectMeta, StringEnum } from './common.js';

/** The Kubernetes API group of the device resources. */
export const API_GROUP = 'devices.kubeedge.io';
/** `apiVersion` of DeviceModel, Device and DeviceStatus: `devices.kubeedge.io/v1beta1`. */
export const API_VERSION = `${API_GROUP}/v1beta1`;

/** The types a model property can have (KubeEdge's, upper case). */
export const PROPERTY_TYPES = ['INT', 'FLOAT', 'DOUBLE', 'STRING', 'BOOLEAN', 'BYTES', 'STREAM'] as const;
export const ACCESS_MODES = ['ReadWrite', 'ReadOnly'] as const;

/** A model property's type: how its twin string is parsed and what a driver reads and writes. */
export const PropertyType = StringEnum(PROPERTY_TYPES, 'How the twin string is parsed.');
export type PropertyType = Static<typeof PropertyType>;

/*
 * Optionality follows KubeEdge's CRDs (build/crds/devices): they require no field of these objects, so neither
 * do the schemas (and the CRDs generated from them). What a device cannot run without is checked by
 * validation instead (validate/check-object.ts, validate/cross-check.ts), with the file and line.
 */

/** A visitor: the per-property address a mapper uses (`configData` is checked against the protocol's schema). */
export const VisitorConfig = Closed(
  {
    protocolName: Type.Optional(
      Type.String({ description: 'The device protocol name (a different one is reported as a warning).' }),
    ),
    configData: Type.Optional(FreeForm),
  },
  'How a mapper reaches this property on the device.',
);
export type VisitorConfig = Static<typeof VisitorConfig>;

export const ModelPropertySchema = Closed({
  name: Type.Optional(Type.String({ description: 'Property name; it is the twin key.' })),
  description: Type.Optional(Type.String()),
  type: Type.Optional(PropertyType),
  accessMode: Type.Optional(StringEnum(ACCESS_MODES, 'ReadWrite or ReadOnly (default ReadWrite).')),
  minimum: Type.Optional(Type.String({ description: 'Lowest allowed value, as a string.' })),
  maximum: Type.Optional(Type.String({ description: 'Highest allowed value, as a string.' })),
  unit: Type.Optional(Type.String()),
  visitors: Type.Optional(VisitorConfig),
});
/** A model property as written: KubeEdge requires none of its fields. */
export type ModelPropertySpec = Static<typeof ModelPropertySchema>;
/**
 * A model property as a device runs it (`ResolvedProperty.model`): named, and typed (one written without a
 * type is a STRING, as KubeEdge's twin takes it).
 */
export type ModelProperty = ModelPropertySpec & { name: string; type: PropertyType };

export const DeviceModelSpec = Closed(
  {
    protocol: Type.Optional(Type.String({ description: 'Protocol name used by devices of this model.' })),
    protocolConfigData: Type.Optional(
      FreeFormOf(
        "Default protocol configData of the model's devices; a device's own keys override it (KubeEdge 1.22+).",
      ),
    ),
    properties: Type.Optional(
      Type.Array(ModelPropertySchema, { description: 'Properties; names are unique.' }),
    ),
  },
  'A blueprint: the properties a kind of device exposes.',
);

/** A KubeEdge DeviceModel: the properties (name, type, access, range) devices of this model have. */
export const DeviceModel = Closed({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.Literal('DeviceModel'),
  metadata: ObjectMeta,
  spec: Type.Optional(DeviceModelSpec),
});
export type DeviceModel = Static<typeof DeviceModel>;
