import type { TSchema } from '@sinclair/typebox';
import { stringify } from 'yaml';
import { Device } from './schema/device.js';
import { API_GROUP, DeviceModel } from './schema/device-model.js';
import { DeviceStatus } from './schema/device-status.js';

/**
 * CustomResourceDefinitions for the three kinds, generated from the same schemas validation uses, so the
 * cluster and `edgetwin validate` can never disagree. Committed copies live in device-models/crds/.
 */

interface Column {
  name: string;
  type: string;
  jsonPath: string;
  priority?: number;
}

interface KindSpec {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  schema: TSchema;
  statusSubresource: boolean;
  columns: Column[];
  description: string;
}

const AGE: Column = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

const KIND_SPECS: KindSpec[] = [
  {
    kind: 'Device',
    plural: 'devices',
    singular: 'device',
    shortNames: ['dev'],
    schema: Device,
    statusSubresource: true,
    description: 'A device instance: its model, the node it runs on, and how each property is reached.',
    columns: [
      { name: 'Model', type: 'string', jsonPath: '.spec.deviceModelRef.name' },
      { name: 'Protocol', type: 'string', jsonPath: '.spec.protocol.protocolName' },
      { name: 'Node', type: 'string', jsonPath: '.spec.nodeName' },
      { name: 'State', type: 'string', jsonPath: '.status.state', priority: 1 },
      AGE,
    ],
  },
  {
    kind: 'DeviceModel',
    plural: 'devicemodels',
    singular: 'devicemodel',
    shortNames: ['dm'],
    schema: DeviceModel,
    statusSubresource: false,
    description: 'A device model: the properties a kind of device exposes, with types and bounds.',
    columns: [{ name: 'Protocol', type: 'string', jsonPath: '.spec.protocol' }, AGE],
  },
  {
    kind: 'DeviceStatus',
    plural: 'devicestatuses',
    singular: 'devicestatus',
    shortNames: ['devstatus'],
    schema: DeviceStatus,
    statusSubresource: true,
    description: 'The reported twins and state of the Device of the same name.',
    columns: [
      { name: 'State', type: 'string', jsonPath: '.status.state' },
      { name: 'Last Online', type: 'string', jsonPath: '.status.lastOnlineTime' },
      AGE,
    ],
  },
];

/** Rewrites a validation schema into a Kubernetes structural schema. */
function structural(schema: unknown, path: string[] = []): unknown {
  if (Array.isArray(schema)) return schema.map((s) => structural(s, path));
  if (typeof schema !== 'object' || schema === null) return schema;
  const top = path.length === 1;
  const name = path.at(-1);
  if (top && (name === 'apiVersion' || name === 'kind')) return { type: 'string' };
  if (top && name === 'metadata') return { type: 'object' };
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    // Closed objects refuse unknown fields in validation; a CRD prunes them (or refuses them, with kubectl's
    // strict field validation). Open ones say so with x-kubernetes-preserve-unknown-fields.
    if (key === 'additionalProperties' && typeof value === 'boolean') continue;
    if (key === '$id') continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, structural(v, [...path, k])]),
      );
    } else out[key] = structural(value, path);
  }
  return out;
}

export function buildCrds(): Record<string, unknown>[] {
  return KIND_SPECS.map((spec) => {
    const openAPIV3Schema = structural(JSON.parse(JSON.stringify(spec.schema))) as Record<string, unknown>;
    openAPIV3Schema.description = spec.description;
    return {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${spec.plural}.${API_GROUP}` },
      spec: {
        group: API_GROUP,
        names: {
          kind: spec.kind,
          listKind: `${spec.kind}List`,
          plural: spec.plural,
          singular: spec.singular,
          shortNames: spec.shortNames,
        },
        scope: 'Namespaced',
        versions: [
          {
            name: 'v1beta1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema },
            ...(spec.statusSubresource ? { subresources: { status: {} } } : {}),
            additionalPrinterColumns: spec.columns,
          },
        ],
      },
    };
  });
}

/** The file name each CRD is committed under in device-models/crds/. */
export function crdFileName(crd: Record<string, unknown>): string {
  return `${(crd.metadata as { name: string }).name}.yaml`;
}

export function crdYaml(crd: Record<string, unknown>): string {
  return stringify(crd, { lineWidth: 0 });
}

/** Every CRD as one multi-document YAML stream, ready for `kubectl apply -f -`. */
export function crdsYaml(): string {
  return buildCrds()
    .map((crd) => `---\n${crdYaml(crd)}`)
    .join('');
}
