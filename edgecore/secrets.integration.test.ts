import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  type HubDevice,
  loadDevices,
  type OpcuaConfig,
  type OpcuaVisitor,
  type ResolvedDevice,
  resolveSecrets,
  samplesDir,
} from '../device-models/internal.js';
import { createOpcuaSimulator, type OpcuaSimulator } from '../mappers/opcua/simulator.js';
import { waitFor } from '../test/support/wait-for.js';
import { TwinStore } from '../twin/store.js';
import { createCliLogger } from './cli/log.js';
import { CloudMetadata } from './cloud-metadata.js';
import { edgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';

/**
 * Secrets and the data directory through edgecore as a user runs it: an OPC UA tank whose user name comes from
 * a file and password from the environment logs in to a simulator that refuses anyone else; a second tank whose
 * variable is unset does not run and says why. Neither secret is in the SQLite files or in any log line.
 */
describe('edgecore: secret references, and a private data directory', () => {
  const password = `pw-${randomUUID()}`;
  const userName = `operator-${randomUUID()}`;
  const ENV = `EDGETWIN_TEST_TANK_PW_${process.pid}`;
  const UNSET = `EDGETWIN_TEST_UNSET_${process.pid}`;
  let dir: string;
  let dataDir: string;
  let devicesDir: string;
  let simulator: OpcuaSimulator;
  let url: string;
  let edge: EdgeCore;
  const logs: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgecore-secrets-'));
    dataDir = join(dir, 'data');
    devicesDir = join(dir, 'devices');
    await mkdir(devicesDir);
    const userFile = join(dir, 'opcua-user');
    await writeFile(userFile, `${userName}\n`, { mode: 0o600 });
    process.env[ENV] = password;

    const sample = await readFile(join(samplesDir(), 'opcua-tank.yaml'), 'utf8');
    const withSecrets = (name: string, variable: string) =>
      sample
        .replace('name: tank-01', `name: ${name}`)
        .replace(
          '      timeout: 2000\n',
          `      timeout: 2000\n      userName: \${file:${userFile}}\n      password: \${env:${variable}}\n`,
        );
    await writeFile(join(devicesDir, 'tank-01.yaml'), withSecrets('tank-01', ENV));
    // tank-02 is its own Device file (the model comes from tank-01.yaml), referencing an unset variable.
    const tank02 = withSecrets('tank-02', UNSET).split(/^---$/m)[1]!;
    await writeFile(join(devicesDir, 'tank-02.yaml'), tank02);

    const { devices } = await loadDevices([devicesDir]);
    const tank = resolveSecrets(devices.find((d) => d.id === 'default/tank-01')!);
    simulator = createOpcuaSimulator(tank as ResolvedDevice<OpcuaConfig, OpcuaVisitor>, {
      userName,
      password,
    });
    ({ url } = (await simulator.start()) as { url: string });

    // An existing data directory others can read: edgecore narrows it, and says so.
    await mkdir(dataDir, { mode: 0o755 });
    await chmod(dataDir, 0o755);
    edge = new EdgeCore({
      config: edgeConfig({
        nodeName: 'edge-node-1',
        dataDir,
        eventBus: { internal: { port: 0 } },
        http: { port: 0 },
        devices: { dirs: [devicesDir], watch: false },
      }),
      adjustDevice: (d) => ({ ...d, config: { ...d.config, url } }),
      log: createCliLogger({ level: 'trace', destination: { write: (line: string) => logs.push(line) } }),
    });
    await edge.start();
  }, 30_000);

  afterAll(async () => {
    await edge?.stop();
    await simulator?.stop();
    delete process.env[ENV];
    await rm(dir, { recursive: true, force: true });
  });

  const mode = async (path: string) => (await stat(path)).mode & 0o777;

  it('logs in with the user name from the file and the password from the environment', async () => {
    const level = await waitFor(
      'tank-01 reports its level',
      () => edge.twinModule?.twins('default/tank-01')?.level?.actual?.value,
    );
    expect(Number(level)).not.toBeNaN();
  });

  it('does not start a device whose variable is unset, naming the field and file:line; its neighbour runs', async () => {
    const line = await waitFor('the error about tank-02', () =>
      logs.find((l) => l.includes('a secret it references cannot be read')),
    );
    const entry = JSON.parse(line) as Record<string, unknown>;
    const file = join(devicesDir, 'tank-02.yaml');
    const text = await readFile(file, 'utf8');
    const row = text.split('\n').findIndex((l) => l.includes(`\${env:${UNSET}}`)) + 1;
    expect(entry).toMatchObject({
      level: 50,
      device: 'default/tank-02',
      field: 'spec.protocol.configData.password',
      at: `${file}:${row}:17`,
      err: `device default/tank-02: spec.protocol.configData.password (${file}:${row}:17): environment variable ${UNSET} is not set`,
    });
    expect(edge.mapperHost?.runtimes.has('default/tank-02')).toBe(false);
    expect(edge.mapperHost?.runtimes.has('default/tank-01')).toBe(true);
    expect(edge.twinModule?.twins('default/tank-01')?.level?.actual).toBeDefined();
  });

  it('keeps the data directory 0700 (narrowed, with a warning) and the database, -wal and -shm 0600', async () => {
    expect(await mode(dataDir)).toBe(0o700);
    const warning = JSON.parse(logs.find((l) => l.includes('data directory was open to other users'))!);
    expect(warning).toMatchObject({ level: 40, dir: dataDir, was: '0755', now: '0700' });
    const files = (await readdir(dataDir)).filter((f) => f.startsWith('edgetwin.db')).sort();
    expect(files).toEqual(['edgetwin.db', 'edgetwin.db-shm', 'edgetwin.db-wal']);
    for (const file of files) expect([file, await mode(join(dataDir, file))]).toEqual([file, 0o600]);
  });

  it('writes neither secret to SQLite nor to any log line', async () => {
    const sqliteBytes = async () =>
      Buffer.concat(
        await Promise.all(
          (await readdir(dataDir)).map((f) => readFile(join(dataDir, f)).catch(() => Buffer.alloc(0))),
        ),
      );
    for (const secret of [password, userName]) {
      expect((await sqliteBytes()).includes(secret)).toBe(false);
      expect(logs.filter((l) => l.includes(secret))).toEqual([]);
    }
    expect(logs.length).toBeGreaterThan(10);
    await edge.stop();
    for (const secret of [password, userName]) expect((await sqliteBytes()).includes(secret)).toBe(false);
  });

  it('stores a device from the cloud with its references, and resolves them only for the mapper', async () => {
    const store = TwinStore.open(join(dir, 'cloud.db'));
    const changes: ResolvedDevice[] = [];
    const metadata = new CloudMetadata({
      store,
      log: createCliLogger({ level: 'trace', destination: { write: (line: string) => logs.push(line) } }),
      nodeName: 'edge-node-1',
      onChange: async (change) => void changes.push(...change.added),
      syncDesired: async () => {},
    });
    const text = await readFile(join(devicesDir, 'tank-01.yaml'), 'utf8');
    const [model, device] = parseAllDocuments(text).map((d) => d.toJS()) as HubDevice['model'][];
    expect(await metadata.upsert('default/tank-01', '5', { model, device } as HubDevice)).toEqual({
      code: 200,
    });
    const stored = JSON.stringify(store.cloudObjects());
    expect(stored).toContain(`\${env:${ENV}}`);
    expect(stored).not.toContain(password);
    expect(changes[0]?.config).toMatchObject({ password: `\${env:${ENV}}` });
    expect(resolveSecrets(changes[0]!).config).toMatchObject({ password, userName });
    store.close();
    const bytes = Buffer.concat(
      await Promise.all(
        ['cloud.db', 'cloud.db-wal'].map((f) => readFile(join(dir, f)).catch(() => Buffer.alloc(0))),
      ),
    );
    expect(bytes.includes(`\${env:${ENV}}`)).toBe(true);
    expect(bytes.includes(password)).toBe(false);
  });
});
