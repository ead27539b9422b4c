import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_SCHEMAS } from '../device-models/internal.js';
import { builtInProtocols } from './builtin.js';
import { checkRegistration, loadPlugin, loadPlugins, PluginError } from './plugins.js';

const fixture = new URL('../test/fixtures/plugins/edgetwin-mapper-echo', import.meta.url).pathname;

describe('the built-in registrations', () => {
  it('each carry the schemas validation uses by default (http, built from the SDK alone, its own), and can load a driver', () => {
    expect(builtInProtocols.map((p) => p.protocol)).toEqual([
      ...BUILT_IN_SCHEMAS.map((p) => p.protocol),
      'http',
    ]);
    for (const registration of builtInProtocols) {
      expect(typeof registration.loadDriver).toBe('function');
      const schemas = BUILT_IN_SCHEMAS.find((p) => p.protocol === registration.protocol);
      if (registration.protocol === 'http') continue;
      expect(registration.configSchema).toBe(schemas?.configSchema);
      expect(registration.visitorSchema).toBe(schemas?.visitorSchema);
    }
  });
});

describe('plug-ins', () => {
  let dir: string;
  const pkg = async (name: string, index: string) => {
    const root = join(dir, 'node_modules', name);
    await mkdir(root, { recursive: true });
    await writeFile(
      join(root, 'package.json'),
      JSON.stringify({ name, type: 'module', exports: './index.js' }),
    );
    await writeFile(join(root, 'index.js'), index);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-plugins-'));
    await mkdir(join(dir, 'node_modules'), { recursive: true });
    await symlink(fixture, join(dir, 'node_modules', 'edgetwin-mapper-echo'), 'dir');
    await pkg('no-export', 'export const x = 1;\n');
    await pkg(
      'named',
      "export const protocol = { protocol: 'named', configSchema: {}, visitorSchema: {}, loadDriver: async () => ({}) };\n",
    );
    await pkg('throws', "throw new Error('boom');\n");
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('loads a package by name from a directory, its driver still unloaded', async () => {
    const echo = await loadPlugin('edgetwin-mapper-echo', { from: dir });
    expect(echo.protocol).toBe('echo');
    const loaded = await echo.loadDriver();
    expect(typeof loaded.createDriver).toBe('function');
  });

  it('loads a package by path, and a named `protocol` export', async () => {
    expect((await loadPlugin(fixture)).protocol).toBe('echo');
    expect((await loadPlugin('named', { from: dir })).protocol).toBe('named');
  });

  it('refuses, naming the package: not installed, no registration, an import that throws', async () => {
    await expect(loadPlugin('@acme/edgetwin-mapper-nope', { from: dir })).rejects.toThrow(
      /plug-in "@acme\/edgetwin-mapper-nope": cannot be found from .*install it there/,
    );
    await expect(loadPlugin('no-export', { from: dir })).rejects.toThrow(
      /plug-in "no-export": .* exports no registration: export default/,
    );
    await expect(loadPlugin('throws', { from: dir })).rejects.toThrow(
      /plug-in "throws": .* failed to import: boom/,
    );
  });

  it('refuses a bad shape or a name taken, naming the package', () => {
    const good = { protocol: 'foo', configSchema: {}, visitorSchema: {}, loadDriver: async () => ({}) };
    const refused = (value: Record<string, unknown>) => {
      try {
        checkRegistration('@acme/foo', value);
      } catch (error) {
        expect(error).toBeInstanceOf(PluginError);
        return (error as Error).message;
      }
      return 'accepted';
    };
    expect(refused(good)).toBe('accepted');
    expect(refused({ ...good, protocol: 'modbus' })).toBe(
      'plug-in "@acme/foo": protocol "modbus" is already built in',
    );
    expect(refused({ ...good, protocol: '' })).toMatch(/`protocol` must be the protocol name/);
    expect(refused({ ...good, configSchema: 'x' })).toMatch(
      /`configSchema` must be a TypeBox or JSON schema/,
    );
    expect(refused({ ...good, visitorSchema: { type: 'nonsense' } })).toMatch(
      /`visitorSchema` is not a valid JSON schema/,
    );
    expect(refused({ ...good, loadDriver: undefined })).toMatch(/`loadDriver` must be a function/);
    expect(refused({ ...good, createSimulator: 1 })).toMatch(/`createSimulator` must be a function/);
  });

  it('loads several, leaving out (with its error) one whose name another plug-in took', async () => {
    const { protocols, errors } = await loadPlugins(['edgetwin-mapper-echo', fixture, 'no-export'], {
      from: dir,
    });
    expect(protocols.map((p) => p.protocol)).toEqual(['echo']);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringMatching(/protocol "echo" is already taken by another plug-in/),
      expect.stringMatching(/plug-in "no-export"/),
    ]);
  });
});
