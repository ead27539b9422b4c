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
const condition = (name: string, type: string, priority?: number): Column => ({
  name,
  type: 'string',
  jsonPath: `.status.conditions[?(@.type=="${type}")].status`,
  ...(priority ? { priority } : {}),
});

/**
 * Lists whose entries server-side apply merges one by one, by key (`x-kubernetes-list-type: map`), so that
 * several writers (field managers) can each own entries of one list. Kubernetes requires the keys of every
 * entry, so the CRDs do (validation does not: KubeEdge's CRDs require no propertyName, and status is written
 * only through the /status subresource, never with `kubectl apply`).
 */
const LIST_MAPS: Record<string, string[]> = {
  'status.twins': ['propertyName'],
  'status.conditions': ['type'],
};

const KIND_SPECS: KindSpec[] = [
  {
    kind: 'Device',
    plural: 'devices',
    singular: 'device',
    shortNames: ['dev'],
    schema: Device,
    statusSubresource: true,
    description: 'A device instance: its model, the node it runs on, and how each property is reached.',
    // Device.status carries state and conditions (cloudcore writes them there too when DeviceStatus holds the twins).
    columns: [
      { name: 'Model', type: 'string', jsonPath: '.spec.deviceModelRef.name' },
      { name: 'Node', type: 'string', jsonPath: '.spec.nodeName' },
      { name: 'State', type: 'string', jsonPath: '.status.state' },
      condition('Synced', 'TwinSynced'),
      AGE,
      { name: 'Protocol', type: 'string', jsonPath: '.spec.protocol.protocolName', priority: 1 },
      condition('Reachable', 'Reachable', 1),
      condition('Mapper', 'MapperReady', 1),
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
      condition('Synced', 'TwinSynced'),
      { name: 'Last Seen', type: 'date', jsonPath: '.status.lastSeen' },
      AGE,
      condition('Reachable', 'Reachable', 1),
      condition('Mapper', 'MapperReady', 1),
      { name: 'Last Online', type: 'string', jsonPath: '.status.lastOnlineTime', priority: 1 },
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
  const keys = LIST_MAPS[path.join('.')];
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
  if (keys && out.type === 'array') {
    const items = out.items as { required?: string[] };
    items.required = [...new Set([...(items.required ?? []), ...keys])];
    out['x-kubernetes-list-type'] = 'map';
    out['x-kubernetes-list-map-keys'] = keys;
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
