import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildCrds, crdFileName, crdsYaml, crdYaml } from './crds.js';

const committed = new URL('crds/', import.meta.url);

describe('CRDs', () => {
  it('the committed copies equal what the schemas generate (run `npm run crds` after a schema change)', () => {
    const crds = buildCrds();
    expect(readdirSync(committed).sort()).toEqual(crds.map(crdFileName).sort());
    for (const crd of crds)
      expect(readFileSync(new URL(crdFileName(crd), committed), 'utf8')).toBe(crdYaml(crd));
  });

  it('define the three namespaced kinds of devices.kubeedge.io/v1beta1', () => {
    const docs = crdsYaml()
      .split(/^---\n/m)
      .filter(Boolean)
      .map((d) => parse(d));
    const byKind = Object.fromEntries(docs.map((d) => [d.spec.names.kind, d]));
    expect(Object.keys(byKind).sort()).toEqual(['Device', 'DeviceModel', 'DeviceStatus']);
    for (const crd of docs) {
      expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
      expect(crd.spec.group).toBe('devices.kubeedge.io');
      expect(crd.spec.scope).toBe('Namespaced');
      expect(crd.spec.versions).toHaveLength(1);
      expect(crd.spec.versions[0]).toMatchObject({ name: 'v1beta1', served: true, storage: true });
      expect(crd.spec.versions[0].additionalPrinterColumns.length).toBeGreaterThan(1);
    }
    expect(byKind.Device.spec.versions[0].subresources).toEqual({ status: {} });
    expect(byKind.DeviceStatus.spec.versions[0].subresources).toEqual({ status: {} });
    expect(byKind.DeviceModel.spec.versions[0].subresources).toBeUndefined();
  });

  it('are structural schemas: no additionalProperties:false, const or multi-type fields', () => {
    const text = JSON.stringify(buildCrds());
    expect(text).not.toContain('"additionalProperties":false');
    expect(text).not.toContain('"const"');
    expect(text).not.toMatch(/"type":\[/);
    expect(text).not.toMatch(/"(numeric|boolish|anyOf)"/);
  });

  it('keep configData free-form, as KubeEdge does', () => {
    const device = buildCrds().find((c) => JSON.stringify(c).includes('"kind":"Device"')) as unknown as {
      spec: {
        versions: {
          schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, unknown> } } } };
        }[];
      };
    };
    const spec = device.spec.versions[0]!.schema.openAPIV3Schema.properties.spec.properties;
    expect(spec.protocol).toMatchObject({
      properties: { configData: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    });
  });

  it('make status.twins and status.conditions list-maps, keyed by propertyName and type (required there)', () => {
    for (const crd of buildCrds() as unknown as Crd[]) {
      const status = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.status;
      if (crd.spec.names.kind === 'DeviceModel') continue;
      for (const [list, key] of [
        ['twins', 'propertyName'],
        ['conditions', 'type'],
      ] as const) {
        const schema = status?.properties?.[list];
        expect(schema, `${crd.spec.names.kind} status.${list}`).toMatchObject({
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': [key],
        });
        expect(schema?.items?.required).toContain(key);
      }
    }
  });

  it("print columns that read fields the schema declares (the Device's own status for kubectl get devices)", () => {
    for (const crd of buildCrds() as unknown as Crd[]) {
      const version = crd.spec.versions[0]!;
      for (const column of version.additionalPrinterColumns) {
        // `.status.conditions[?(@.type=="Reachable")].status` walks status → conditions → items → status.
        const steps = column.jsonPath
          .replace(/\[\?\(.*?\)\]/g, '.[]')
          .split('.')
          .filter(Boolean);
        let schema: Schema | undefined = version.schema.openAPIV3Schema;
        for (const step of steps) {
          if (step === 'metadata' && schema === version.schema.openAPIV3Schema) break; // ObjectMeta is the API server's
          schema = step === '[]' ? schema?.items : schema?.properties?.[step];
          expect(schema, `${crd.spec.names.kind} column ${column.name}: ${column.jsonPath}`).toBeDefined();
        }
      }
    }
    const columns = (kind: string) =>
      (buildCrds() as unknown as Crd[])
        .find((c) => c.spec.names.kind === kind)!
        .spec.versions[0]!.additionalPrinterColumns.filter((c) => !c.priority)
        .map((c) => c.name);
    expect(columns('Device')).toEqual(['Model', 'Node', 'State', 'Synced', 'Age']);
    expect(columns('DeviceStatus')).toEqual(['State', 'Synced', 'Last Seen', 'Age']);
  });
});

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema & { required?: string[] };
  required?: string[];
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
}

interface Crd {
  spec: {
    names: { kind: string };
    versions: {
      schema: { openAPIV3Schema: Schema & { properties: Record<string, Schema> } };
      additionalPrinterColumns: { name: string; jsonPath: string; priority?: number }[];
    }[];
  };
}
