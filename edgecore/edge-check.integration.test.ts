import { access, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplesDir } from '../device-models/internal.js';
import { runEdge } from './cli/edge-command.js';

/** `edgetwin edge --check` on real files: every problem of edge.yaml and of the device files, nothing started. */
describe('edgetwin edge --check', () => {
  let dir: string;
  const sample = join(samplesDir(), 'modbus-tcp-thermostat.yaml');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edge-check-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function check(args: { config: string; set?: string[] }, env: NodeJS.ProcessEnv = {}) {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await runEdge(
      { ...args, check: true },
      { stdout: (l) => stdout.push(l), stderr: (l) => stderr.push(l) },
      env,
    );
    return { code, stdout, stderr };
  }

  it('exits 0 with a one-line summary when the config and the devices are fine', async () => {
    await mkdir(join(dir, 'good', 'devices'), { recursive: true });
    await copyFile(sample, join(dir, 'good', 'devices', 'thermostat.yaml'));
    const config = join(dir, 'good', 'edge.yaml');
    await writeFile(
      config,
      `dataDir: ${join(dir, 'good', 'data')}\ndevices:\n  dirs: [${join(dir, 'good', 'devices')}]\n`,
    );
    const result = await check({ config }, { EDGETWIN_HTTP__PORT: '10351' });
    expect(result.stderr).toEqual([]);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stdout).toHaveLength(1);
    expect(result.stdout[0]).toMatch(
      /^ok: .*edge\.yaml \(node edge-node-1, 1 field\(s\) from the environment and flags\); 1 DeviceModel\(s\), 1 Device\(s\) \(1 for this node\) in 1 file\(s\)/,
    );
    // Nothing started: no data directory, no database.
    await expect(access(join(dir, 'good', 'data'))).rejects.toThrow(/ENOENT/);
  });

  it('reports every problem of edge.yaml, the environment and the device files, each with its place', async () => {
    const devices = join(dir, 'bad', 'devices');
    await mkdir(devices, { recursive: true });
    const text = await readFile(sample, 'utf8');
    await writeFile(
      join(devices, 'thermostat.yaml'),
      text.replace('register: HoldingRegister', 'register: Holding'),
    );
    const config = join(dir, 'bad', 'edge.yaml');
    await writeFile(
      config,
      [
        '# a gateway',
        'nodeName: gw-1',
        `dataDir: ${join(dir, 'bad', 'data')}`,
        'eventBus:',
        '  mode: embedded',
        'http:',
        '  port: "ten"',
        '  prot: 10351',
        'devices:',
        `  dirs: [${devices}]`,
        '',
      ].join('\n'),
    );
    const result = await check(
      { config, set: ['twin.writeBehindMs=-1'] },
      { EDGETWIN_CLOUD__KEEPALIVESECONDS: 'often' },
    );
    expect(result.code).toBe(1);
    const deviceLine = text.split('\n').findIndex((l) => l.includes('register: HoldingRegister')) + 1;
    expect(result.stdout).toEqual([
      `${config}:5:9  eventBus.mode  must be one of internal, external, both (got "embedded")`,
      `${config}:7:9  http.port  must be an integer (got string)`,
      `${config}:8:9  http.prot  unknown field (did you mean "port"?)`,
      'EDGETWIN_CLOUD__KEEPALIVESECONDS  -  cloud.keepaliveSeconds: must be a number (got "often")',
      '--set twin.writeBehindMs  twin.writeBehindMs  must be >= 0 (got -1)',
      expect.stringMatching(
        new RegExp(
          `^${join(devices, 'thermostat.yaml')}:${deviceLine}:\\d+  spec\\.properties\\[\\d\\]\\.visitors\\.configData\\.register  must be one of .*did you mean HoldingRegister\\?$`,
        ),
      ),
    ]);
    expect(result.stderr).toEqual(['6 problem(s): 5 in the config, 1 in the device files']);
    await expect(access(join(dir, 'bad', 'data'))).rejects.toThrow(/ENOENT/);
  });

  it('without --check, a bad config stops the edge before anything starts, with the same list', async () => {
    const config = join(dir, 'bad', 'edge.yaml');
    const stderr: string[] = [];
    const code = await runEdge({ config }, { stdout: () => {}, stderr: (l) => stderr.push(l) }, {});
    expect(code).toBe(1);
    expect(stderr).toContain(`${config}:8:9  http.prot  unknown field (did you mean "port"?)`);
    expect(stderr.at(-1)).toMatch(/3 problem\(s\) in the config; nothing started/);
  });
});
