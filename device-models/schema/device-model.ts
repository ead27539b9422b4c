import { type Static, Type } from '@sinclair/typebox';
import { Closed, FreeForm, ObjectMeta, StringEnum, TWIN_KEY_PATTERN } from './common.js';

export const API_GROUP = 'devices.kubeedge.io';
export const API_VERSION = `${API_GROUP}/v1beta1`;

export const PROPERTY_TYPES = ['INT', 'FLOAT', 'DOUBLE', 'STRING', 'BOOLEAN', 'BYTES', 'STREAM'] as const;
export const ACCESS_MODES = ['ReadWrite', 'ReadOnly'] as const;

export const PropertyType = StringEnum(PROPERTY_TYPES, 'How the twin string is parsed.');
export type PropertyType = Static<typeof PropertyType>;

/** A visitor: the per-property address a mapper uses (`configData` is checked against the protocol's schema). */
export const VisitorConfig = Closed(
  {
    protocolName: Type.String({ minLength: 1, description: 'Must equal the device protocol name.' }),
    configData: Type.Optional(FreeForm),
  },
  'How a mapper reaches this property on the device.',
);
export type VisitorConfig = Static<typeof VisitorConfig>;

export const ModelProperty = Closed({
  name: Type.String({ pattern: TWIN_KEY_PATTERN, description: 'Property name; it is the twin key.' }),
  description: Type.Optional(Type.String()),
  type: PropertyType,
  accessMode: Type.Optional(StringEnum(ACCESS_MODES, 'ReadWrite or ReadOnly (default ReadWrite).')),
  minimum: Type.Optional(Type.String({ description: 'Lowest allowed value, as a string.' })),
  maximum: Type.Optional(Type.String({ description: 'Highest allowed value, as a string.' })),
  unit: Type.Optional(Type.String()),
  visitors: Type.Optional(VisitorConfig),
});
export type ModelProperty = Static<typeof ModelProperty>;

export const DeviceModelSpec = Closed(
  {
    protocol: Type.String({ minLength: 1, description: 'Protocol name used by devices of this model.' }),
    properties: Type.Optional(Type.Array(ModelProperty, { description: 'Properties; names are unique.' })),
  },
  'A blueprint: the properties a kind of device exposes.',
);

export const DeviceModel = Closed({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.Literal('DeviceModel'),
  metadata: ObjectMeta,
  spec: DeviceModelSpec,
});
export type DeviceModel = Static<typeof DeviceModel>;
