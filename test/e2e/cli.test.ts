import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** The built CLI, run as a user runs it (`npm test` builds dist/ first). */
const bin = new URL('../../dist/edgecore/cli/main.js', import.meta.url).pathname;
const root = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);

async function edgetwin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('edgetwin validate', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-cli-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('exits 0 on the samples with a one-line summary', async () => {
    const result = await edgetwin('validate', 'device-models/samples');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.trim().split('\n')).toEqual(['ok: 6 DeviceModel(s), 6 Device(s) in 6 file(s)']);
  });

  it('exits 1 and prints file:line:col  path  message for each problem (warnings too)', async () => {
    const text = readFileSync(join(root, 'device-models/samples/modbus-tcp-thermostat.yaml'), 'utf8')
      .replace('register: HoldingRegister', 'register: Holding')
      .replace('value: "21.5"', 'value: "80"');
    const file = join(dir, 'bad.yaml');
    await writeFile(file, text);
    const lines = text.split('\n');
    const line = (needle: string) => lines.findIndex((l) => l.includes(needle)) + 1;
    const result = await edgetwin('validate', file);
    expect(result.code).toBe(1);
    expect(result.stdout.trim().split('\n')).toEqual([
      `${file}:${line('value: "80"')}:16  warning: spec.properties[1].desired.value  80 is above the maximum 35: the desired value is ignored`,
      `${file}:${line('register: Holding')}:21  spec.properties[1].visitors.configData.register  must be one of CoilRegister, DiscreteInputRegister, HoldingRegister, InputRegister (got "Holding"); did you mean HoldingRegister?`,
    ]);
    expect(result.stderr).toContain(
      '1 problem(s) in 1 file(s) (1 DeviceModel(s), 1 Device(s) read), 1 warning(s)',
    );
  });

  it('exits 0 when there are only warnings, printing them as file:line:col  warning: path  message', async () => {
    const text = readFileSync(join(root, 'device-models/samples/modbus-tcp-thermostat.yaml'), 'utf8').replace(
      'reportToCloud: true',
      'reportToCloud: false',
    );
    const file = join(dir, 'warn.yaml');
    await writeFile(file, text);
    const lines = text.split('\n');
    const line = lines.findIndex((l) => l.includes('reportToCloud: false')) + 1;
    const col = lines[line - 1]!.indexOf('false') + 1;
    const result = await edgetwin('validate', file);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout.trim().split('\n')).toEqual([
      `${file}:${line}:${col}  warning: spec.properties[0].reportToCloud  is read every 1000 ms and goes nowhere: reportToCloud is false and there is no pushMethod (set reportToCloud: true or add a pushMethod)`,
      'ok: 1 DeviceModel(s), 1 Device(s) in 1 file(s), 1 warning(s)',
    ]);
    const json = JSON.parse((await edgetwin('validate', '--json', file)).stdout);
    expect(json).toMatchObject({ ok: true, errors: 0, warnings: 1 });
    expect(json.problems).toEqual([
      expect.objectContaining({ file, line, severity: 'warning', path: 'spec.properties[0].reportToCloud' }),
    ]);
  });

  it('prints machine-readable results with --json', async () => {
    const file = join(dir, 'syntax.yaml');
    await writeFile(file, 'kind: Device\nmetadata: {name: [x\n');
    const result = await edgetwin('validate', '--json', file);
    expect(result.code).toBe(1);
    const json = JSON.parse(result.stdout);
    expect(json.ok).toBe(false);
    expect(json.problems[0]).toMatchObject({
      file,
      line: expect.any(Number),
      message: expect.stringMatching(/^YAML syntax/),
      severity: 'error',
    });
  });

  it('refuses a 10 MB file quickly with a size error', async () => {
    const file = join(dir, 'huge.yaml');
    await writeFile(file, '');
    await truncate(file, 10 * 1024 * 1024);
    const result = await edgetwin('validate', file);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`${file}:1:1  -  file is 10.0 MB, larger than the 4.0 MB limit`);
  });

  it('reports an empty file', async () => {
    const file = join(dir, 'empty.yaml');
    await writeFile(file, '');
    const result = await edgetwin('validate', file);
    expect(result.code).toBe(1);
    expect(result.stdout.trim()).toBe(`${file}:1:1  -  file is empty: no documents`);
  });
});

describe('edgetwin crds', () => {
  it('prints the three CRDs as one YAML stream', async () => {
    const result = await edgetwin('crds');
    expect(result.code).toBe(0);
    expect(result.stdout.match(/^kind: CustomResourceDefinition$/gm)).toHaveLength(3);
    for (const name of ['devices', 'devicemodels', 'devicestatuses'])
      expect(result.stdout).toContain(`name: ${name}.devices.kubeedge.io`);
  });
});
