import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { gatewayConfig } from './bundle-config.js';
import { keepInPackage } from './bundle-modules.js';
import { packageOf } from './bundle-native.js';

describe('gatewayConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bundle-config-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes a default edge.yaml with the gateway paths', async () => {
    const { text, notes } = await gatewayConfig();
    expect(parse(text)).toMatchObject({
      dataDir: '/var/lib/edgetwin',
      devices: { dirs: ['/etc/edgetwin/devices'] },
    });
    expect(notes).toEqual([]);
  });

  it('points relative paths at the gateway, keeping comments and the rest', async () => {
    const file = join(dir, 'relative.yaml');
    await writeFile(file, '# site A\nnodeName: gw-a\ndataDir: ./data\nhttp: {port: 10351}\n');
    const { text, notes } = await gatewayConfig(file);
    expect(text).toContain('# site A');
    expect(parse(text)).toEqual({
      nodeName: 'gw-a',
      dataDir: '/var/lib/edgetwin',
      http: { port: 10351 },
      devices: { dirs: ['/etc/edgetwin/devices'] },
    });
    expect(notes).toEqual([
      'dataDir ./data → /var/lib/edgetwin',
      'devices.dirs ./devices → /etc/edgetwin/devices',
    ]);
  });

  it('keeps a file with absolute paths as it is, warning where the unit cannot write or read', async () => {
    const file = join(dir, 'absolute.yaml');
    const original = 'dataDir: /srv/twin\ndevices: {dirs: [/srv/devices]}\n';
    await writeFile(file, original);
    const { text, notes } = await gatewayConfig(file);
    expect(text).toBe(original);
    expect(notes).toEqual([
      expect.stringMatching(/^warning: dataDir \/srv\/twin is outside \/var\/lib\/edgetwin/),
      expect.stringMatching(
        /^warning: devices.dirs \(\/srv\/devices\) does not include \/etc\/edgetwin\/devices/,
      ),
    ]);
  });

  it('refuses an invalid config, naming the field', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'http: {prot: 1}\n');
    await expect(gatewayConfig(file)).rejects.toThrow(/http\.prot: unknown field/);
  });
});

describe('keepInPackage', () => {
  const pkg = '/nm/better-sqlite3';
  const keep = (rel: string, native = true, arch = 'x64') =>
    keepInPackage(pkg, `${pkg}/${rel}`, native, arch);

  it('keeps what runs and the licence, drops sources, maps, tests and nested packages', () => {
    expect(keep('lib/index.js')).toBe(true);
    expect(keep('LICENSE')).toBe(true);
    expect(keep('LICENSE.md')).toBe(true);
    expect(keep('README.md')).toBe(false);
    expect(keep('lib/index.js.map')).toBe(false);
    expect(keep('lib/index.d.ts')).toBe(false);
    expect(keep('test/a.js')).toBe(false);
    expect(keep('node_modules/x/index.js')).toBe(false);
    expect(keep('deps/sqlite3/sqlite3.c')).toBe(false);
    expect(keep('src/better_sqlite3.cpp')).toBe(false);
    expect(keep('build/Release/obj.target/better_sqlite3.node')).toBe(false);
  });

  it("keeps only this platform's prebuilds", () => {
    expect(keep('prebuilds/linux-x64/a.glibc.node')).toBe(true);
    expect(keep('prebuilds/linux-arm64/a.armv8.glibc.node')).toBe(false);
    expect(keep('prebuilds/darwin-x64+arm64/a.node')).toBe(false);
    expect(keep('prebuilds/linux-arm64/a.armv8.glibc.node', true, 'arm64')).toBe(true);
  });

  it('names the package a file belongs to', () => {
    expect(packageOf('node_modules/@serialport/bindings-cpp/prebuilds/x.node')).toBe(
      '@serialport/bindings-cpp',
    );
    expect(packageOf('node_modules/a/node_modules/b/build/Release/b.node')).toBe('b');
  });
});
