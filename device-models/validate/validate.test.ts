import { readFileSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Problem, parseSource, validateFiles, validateObjects } from '../index.js';

const samples = new URL('../samples/', import.meta.url);
const thermostat = readFileSync(new URL('modbus-tcp-thermostat.yaml', samples), 'utf8');
const tank = readFileSync(new URL('opcua-tank.yaml', samples), 'utf8');
const ble = readFileSync(new URL('ble-thermometer.yaml', samples), 'utf8');
/** The TCP port the thermostat sample names (the tests only edit it, nothing listens on it). */
const samplePort = /port: (\d+)/.exec(thermostat)![1];

function validateText(text: string, file = 'input.yaml'): Problem[] {
  const parsed = parseSource(file, text);
  return [...parsed.problems, ...validateObjects(parsed.objects).problems];
}

/** Replaces the `nth` occurrence (0-based) of `from` and returns the text and the 1-based line of the change. */
function edit(text: string, from: string, to: string, nth = 0): { text: string; line: number } {
  let index = -1;
  for (let i = 0; i <= nth; i++) {
    index = text.indexOf(from, index + 1);
    if (index < 0) throw new Error(`"${from}" #${nth} not in text`);
  }
  return {
    text: text.slice(0, index) + to + text.slice(index + from.length),
    line: text.slice(0, index).split('\n').length,
  };
}

interface Case {
  name: string;
  input: { text: string; line: number };
  path: string;
  message: RegExp;
  /** Where the problem is reported relative to the edited line (a missing key: on its parent's line). */
  lineDelta?: number;
}

const cases: Case[] = [
  {
    name: 'unknown kind',
    input: edit(thermostat, 'kind: Device\n', 'kind: Gadget\n'),
    path: 'kind',
    message: /unknown kind "Gadget"/,
  },
  {
    name: 'unknown apiVersion',
    input: edit(thermostat, 'apiVersion: devices.kubeedge.io/v1beta1', 'apiVersion: devices.example.com/v1'),
    path: 'apiVersion',
    message: /unknown apiVersion "devices.example.com\/v1"/,
  },
  {
    name: 'older KubeEdge apiVersion',
    input: edit(
      thermostat,
      'apiVersion: devices.kubeedge.io/v1beta1',
      'apiVersion: devices.kubeedge.io/v1alpha2',
      1,
    ),
    path: 'apiVersion',
    message: /v1alpha2 is not supported/,
  },
  {
    name: 'missing deviceModelRef',
    input: edit(thermostat, '  deviceModelRef:\n    name: thermostat-model\n', ''),
    path: 'spec.deviceModelRef',
    message: /is required/,
    lineDelta: -1,
  },
  {
    name: 'model not found',
    input: edit(thermostat, 'name: thermostat-model\n  nodeName', 'name: thermostat-modle\n  nodeName'),
    path: 'spec.deviceModelRef.name',
    message:
      /DeviceModel "thermostat-modle" not found in namespace "default"; did you mean "thermostat-model"/,
  },
  {
    name: 'property absent from the model',
    input: edit(thermostat, '- name: setpoint\n      collectCycle', '- name: set-point\n      collectCycle'),
    path: 'spec.properties[1].name',
    message: /property "set-point" is not in DeviceModel "thermostat-model"/,
  },
  {
    name: 'type INTEGER',
    input: edit(thermostat, 'type: FLOAT', 'type: INTEGER'),
    path: 'spec.properties[0].type',
    message: /must be one of INT, FLOAT, .* \(got "INTEGER"\); did you mean INT\?/,
  },
  {
    name: 'desired "abc" for INT',
    input: edit(
      edit(thermostat, 'type: FLOAT\n      accessMode: ReadWrite', 'type: INT\n      accessMode: ReadWrite')
        .text,
      'value: "21.5"',
      'value: "abc"',
    ),
    path: 'spec.properties[1].desired.value',
    message: /"abc" is not an INT/,
  },
  {
    name: 'desired above maximum',
    input: edit(thermostat, 'value: "21.5"', 'value: "80"'),
    path: 'spec.properties[1].desired.value',
    message: /80 is above the maximum 35/,
  },
  {
    name: 'desired on a ReadOnly property',
    input: edit(
      thermostat,
      '- name: temperature\n      collectCycle: 1000\n',
      '- name: temperature\n      desired: {value: "20"}\n      collectCycle: 1000\n',
    ),
    path: 'spec.properties[0].desired',
    message: /ReadOnly in the model: it cannot have a desired value/,
    lineDelta: 1,
  },
  {
    name: 'negative collectCycle',
    input: edit(thermostat, 'collectCycle: 1000', 'collectCycle: -5', 1),
    path: 'spec.properties[1].collectCycle',
    message: /must be >= 0 \(got -5\)/,
  },
  {
    name: 'duplicate property names (model)',
    input: edit(thermostat, '- name: heater\n      description', '- name: setpoint\n      description'),
    path: 'spec.properties[2].name',
    message: /duplicate property name "setpoint"/,
  },
  {
    name: 'duplicate property names (device)',
    input: edit(thermostat, '- name: heater\n      collectCycle', '- name: setpoint\n      collectCycle'),
    path: 'spec.properties[2].name',
    message: /duplicate property name "setpoint"/,
  },
  {
    name: 'modbus register: Holding',
    input: edit(thermostat, 'register: HoldingRegister', 'register: Holding'),
    path: 'spec.properties[1].visitors.configData.register',
    message:
      /must be one of CoilRegister, DiscreteInputRegister, HoldingRegister, InputRegister \(got "Holding"\); did you mean HoldingRegister\?/,
  },
  {
    name: 'opcua visitor without nodeID',
    input: edit(tank, 'nodeID: ns=1;s=Pump.SpeedSetpoint\n          ', ''),
    path: 'spec.properties[1].visitors.configData.nodeID',
    message: /is required/,
    lineDelta: -1,
  },
  {
    name: 'ble operationType: Pow',
    input: edit(ble, 'operationType: Divide', 'operationType: Pow'),
    path: 'spec.properties[0].visitors.configData.dataConverter.orderOfOperations[0].operationType',
    message: /must be one of Add, Subtract, Multiply, Divide \(got "Pow"\)/,
  },
  {
    name: 'a number where a string is meant',
    input: edit(thermostat, 'value: "21.5"', 'value: 21.5'),
    path: 'spec.properties[1].desired.value',
    message: /must be a string: quote it \("21.5"\)/,
  },
  {
    name: 'a misspelt field',
    input: edit(thermostat, 'collectCycle: 1000', 'colectCycle: 1000'),
    path: 'spec.properties[0].colectCycle',
    message: /unknown field \(did you mean "collectCycle"\?\)/,
  },
  {
    name: 'a non-numeric port',
    input: edit(thermostat, `port: ${samplePort}`, 'port: fifty'),
    path: 'spec.protocol.configData.port',
    message: /must be a number \(got "fifty"\)/,
  },
  {
    name: 'an input register behind a ReadWrite property',
    input: edit(thermostat, 'register: HoldingRegister', 'register: InputRegister'),
    path: 'spec.properties[1].visitors.configData.register',
    message: /InputRegister cannot be written/,
  },
  {
    name: 'visitor protocolName differs from the device protocol',
    input: edit(
      thermostat,
      'protocolName: modbus\n        configData:\n          register: CoilRegister',
      'protocolName: opcua\n        configData:\n          register: CoilRegister',
    ),
    path: 'spec.properties[2].visitors.protocolName',
    message: /"opcua" does not match the device protocol "modbus"/,
  },
  {
    name: 'minimum above maximum in the model',
    input: edit(thermostat, 'minimum: "5"', 'minimum: "50"'),
    path: 'spec.properties[1].maximum',
    message: /is below the minimum/,
    lineDelta: 1,
  },
];

describe('validate: bad input names the field and its line', () => {
  it.each(cases)('$name', ({ input, path, message, lineDelta = 0 }) => {
    const problems = validateText(input.text);
    const problem = problems.find((p) => p.path === path);
    expect(problem, `no problem at ${path}; got ${JSON.stringify(problems, null, 1)}`).toBeDefined();
    expect(problem!.message).toMatch(message);
    expect(problem!.line).toBe(input.line + lineDelta);
    expect(problem!.file).toBe('input.yaml');
  });

  it('reports a YAML syntax error with its line, not a stack trace', () => {
    const { text, line } = edit(
      thermostat,
      '    name: thermostat-model\n  nodeName',
      '    name: [thermostat-model\n  nodeName',
    );
    const problems = validateText(text);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]!.message).toMatch(/^YAML syntax: /);
    expect(problems[0]!.message).not.toMatch(/\n|at .*\.js/);
    expect(problems[0]!.line).toBeGreaterThanOrEqual(line);
    expect(problems[0]!.line).toBeLessThanOrEqual(line + 2);
  });

  it('reports an empty file', () => {
    for (const text of ['', '\n\n', '# only a comment\n', '---\n---\n']) {
      expect(validateText(text)).toEqual([
        { file: 'input.yaml', line: 1, col: 1, path: '', message: 'file is empty: no documents' },
      ]);
    }
  });

  it('reports a document that is not a mapping', () => {
    expect(validateText('- a\n- b\n')[0]).toMatchObject({ line: 1, path: '', message: /must be a mapping/ });
  });

  it('reports every problem of a document, not only the first', () => {
    const text = edit(
      edit(thermostat, 'register: HoldingRegister', 'register: Holding').text,
      `port: ${samplePort}`,
      'port: -1',
    ).text;
    const paths = validateText(text).map((p) => p.path);
    expect(paths).toContain('spec.properties[1].visitors.configData.register');
    expect(paths).toContain('spec.protocol.configData.port');
  });

  it('points at the column of the offending value', () => {
    const { text, line } = edit(thermostat, 'register: HoldingRegister', 'register: Holding');
    const problem = validateText(text).find((p) => p.path.endsWith('register'))!;
    expect(problem.line).toBe(line);
    expect(problem.col).toBe(text.split('\n')[line - 1]!.indexOf('Holding') + 1);
  });

  it('reports a device defined twice', () => {
    const device = thermostat.slice(thermostat.indexOf('---'));
    const problems = validateText(`${thermostat}\n${device}`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({
      path: 'metadata.name',
      message: /Device default\/thermostat-01 is defined twice/,
    });
  });
});

describe('validate: good input', () => {
  it('accepts every sample and resolves its devices', async () => {
    const result = await validateFiles([new URL('../samples', import.meta.url).pathname]);
    expect(result.problems).toEqual([]);
    expect(result.counts).toMatchObject({ DeviceModel: 5, Device: 5 });
    expect(result.devices.map((d) => d.id).sort()).toEqual([
      'default/ble-thermometer-01',
      'default/energy-meter-01',
      'default/scale-01',
      'default/tank-01',
      'default/thermostat-01',
    ]);
  });

  it("accepts KubeEdge's own v1beta1 sample format unchanged", async () => {
    const result = await validateFiles([
      new URL('testdata/kubeedge-v1beta1-format.yaml', import.meta.url).pathname,
    ]);
    expect(result.problems).toEqual([]);
    const [device] = result.devices;
    expect(device).toMatchObject({ id: 'default/boiler-device', config: { ip: '10.0.0.7', port: 1502 } });
    expect(device!.properties[0]).toMatchObject({
      collectCycle: 5_000_000_000,
      desired: '55',
      reportToCloud: true,
    });
    expect(device!.stateReport).toEqual({ reportToCloud: true, reportCycle: 10000 });
  });

  it('normalises numeric strings in configData and defaults cycles of 0 to one second', () => {
    const { text } = edit(
      edit(thermostat, 'slaveID: 1', 'slaveID: "7"').text,
      'collectCycle: 1000',
      'collectCycle: 0',
    );
    const parsed = parseSource('x.yaml', text);
    const [device] = validateObjects(parsed.objects).devices;
    expect(device!.config).toMatchObject({ slaveID: 7, port: Number(samplePort) });
    expect(device!.properties[0]!.collectCycle).toBe(1000);
  });

  it('merges the model default visitor with the device visitor key by key', () => {
    const withDefault = edit(
      thermostat,
      '      type: BOOLEAN\n      accessMode: ReadWrite\n',
      '      type: BOOLEAN\n      accessMode: ReadWrite\n      visitors:\n        protocolName: modbus\n        configData: {register: CoilRegister, offset: 9}\n',
    ).text;
    const text = edit(
      withDefault,
      '          register: CoilRegister\n          offset: 0\n          limit: 1\n',
      '          offset: 3\n',
    ).text;
    const [device] = validateObjects(parseSource('x.yaml', text).objects).devices;
    expect(device!.properties[2]!.visitor).toEqual({ register: 'CoilRegister', offset: 3 });
  });

  it('reads kind: List as kubectl prints it, with paths inside items', () => {
    const list = {
      apiVersion: 'v1',
      kind: 'List',
      items: parseSource('x', thermostat).objects.map((o) => o.value),
    };
    expect(validateText(JSON.stringify(list, null, 2), 'list.json')).toEqual([]);
    (list.items[1] as { spec: { nodeName: unknown } }).spec.nodeName = 7;
    const [problem] = validateText(JSON.stringify(list, null, 2), 'list.json');
    expect(problem).toMatchObject({ path: 'spec.nodeName', message: /quote it/ });
    expect(problem!.line).toBeGreaterThan(50);
  });
});

describe('validate: files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-validate-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('refuses a 10 MB file with a size error, without reading it', async () => {
    const file = join(dir, 'huge.yaml');
    await writeFile(file, '');
    await truncate(file, 10 * 1024 * 1024);
    const result = await validateFiles([file]);
    expect(result.problems).toEqual([
      { file, line: 1, col: 1, path: '', message: 'file is 10.0 MB, larger than the 4.0 MB limit' },
    ]);
  });

  it('reports a missing file', async () => {
    const result = await validateFiles([join(dir, 'nope.yaml')]);
    expect(result.problems[0]!.message).toBe('no such file or directory');
  });

  it('validates across files of a directory (model in one file, device in another)', async () => {
    const split = thermostat.indexOf('---');
    await writeFile(join(dir, 'a-model.yaml'), thermostat.slice(0, split));
    await writeFile(
      join(dir, 'b-device.json'),
      JSON.stringify(parseSource('x', thermostat).objects[1]!.value),
    );
    const result = await validateFiles([dir].filter(Boolean), {});
    expect(result.problems.filter((p) => !p.file.endsWith('huge.yaml'))).toEqual([]);
    expect(result.devices.map((d) => d.id)).toEqual(['default/thermostat-01']);
  });
});
