import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planScaffold } from './mapper-new.js';
import { mapperNames, nameProblem } from './mapper-templates/names.js';

const root = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

describe('mapper new: names', () => {
  it('derives the identifiers and the package name from the protocol name', () => {
    expect(mapperNames('acme-link')).toEqual({
      protocol: 'acme-link',
      camel: 'acmeLink',
      pascal: 'AcmeLink',
      packageName: 'edgetwin-mapper-acme-link',
    });
    expect(mapperNames('s7')).toMatchObject({ camel: 's7', pascal: 'S7' });
  });

  it('takes lowercase letters, digits and single dashes, and no built-in name', () => {
    for (const good of ['acme', 'acme-link', 'bacnet-ip', 's7', 'a1-b2'])
      expect(nameProblem(good)).toBeUndefined();
    for (const bad of [
      '',
      'Acme',
      'acme_link',
      '9lives',
      '-acme',
      'acme-',
      'acme--link',
      'a b',
      'x'.repeat(51),
    ])
      expect(nameProblem(bad)).toMatch(/is not a protocol name for a mapper/);
    for (const taken of ['modbus', 'opcua', 'ble', 'serial', 'http'])
      expect(nameProblem(taken)).toBe(
        `"${taken}" is a built-in protocol: choose another name for your protocol`,
      );
    expect(nameProblem('bacnet', ['bacnet'])).toMatch(/is a built-in protocol/);
    expect(nameProblem('new')).toMatch(/the name of this command/);
  });
});

describe('mapper new: where files go', () => {
  it('inside this repository: mappers/<name>/, importing the SDK by relative path', () => {
    const scaffold = planScaffold('acme-link', {}, join(root, 'edgecore'));
    expect(scaffold).toMatchObject({ mode: 'repository', dir: join(root, 'mappers', 'acme-link') });
    expect(scaffold.files.map((f) => f.path)).toEqual([
      'index.ts',
      'schema.ts',
      'driver.ts',
      'simulator.ts',
      'testdata/acme-link-device.yaml',
      'conformance.integration.test.ts',
    ]);
    const file = (path: string) => scaffold.files.find((f) => f.path === path)!.content;
    expect(file('index.ts')).toContain("from '../../sdk/index.js'");
    expect(file('index.ts')).not.toContain('export default');
    expect(file('conformance.integration.test.ts')).toContain("from '../../sdk/testing/index.js'");
    expect(file('driver.ts')).toContain('in mappers/acme-link/driver.ts');
  });

  it('a --dir deeper in the repository gets its relative imports right', () => {
    const scaffold = planScaffold('acme-link', { dir: 'mappers/vendor/acme' }, root);
    expect(scaffold.mode).toBe('repository');
    expect(scaffold.files[0]!.content).toContain("from '../../../sdk/index.js'");
  });

  it('outside: an npm project in ./edgetwin-mapper-<name>, importing edgetwin/sdk', () => {
    const cwd = tmpdir();
    const scaffold = planScaffold('acme-link', {}, cwd);
    expect(scaffold).toMatchObject({ mode: 'standalone', dir: join(cwd, 'edgetwin-mapper-acme-link') });
    const paths = scaffold.files.map((f) => f.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'package.json',
        'tsconfig.json',
        'src/index.ts',
        'test/conformance.integration.test.ts',
      ]),
    );
    const file = (path: string) => scaffold.files.find((f) => f.path === path)!.content;
    expect(file('src/index.ts')).toContain("import { defineRegistration } from 'edgetwin/sdk';");
    expect(file('src/index.ts')).toContain('export default acmeLinkProtocol;');
    expect(file('test/conformance.integration.test.ts')).toContain("from 'edgetwin/sdk/testing'");
    expect(JSON.parse(file('package.json'))).toMatchObject({
      name: 'edgetwin-mapper-acme-link',
      type: 'module',
      peerDependencies: { edgetwin: expect.stringMatching(/^\^\d/) },
    });
  });
});
