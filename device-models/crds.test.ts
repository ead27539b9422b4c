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
});
