import { readFileSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Problem, parseSource, type Severity, validateFiles, validateObjects } from '../internal.js';

const samples = new URL('../samples/', import.meta.url);
const thermostat = readFileSync(new URL('modbus-tcp-thermostat.yaml', samples), 'utf8');
const tank = readFileSync(new URL('opcua-tank.yaml', samples), 'utf8');
const ble = readFileSync(new URL('ble-thermometer.yaml', samples), 'utf8');
const meter = readFileSync(new URL('modbus-rtu-energy-meter.yaml', samples), 'utf8');
const scale = readFileSync(new URL('serial-scale.yaml', samples), 'utf8');
/** The TCP port the thermostat sample names (the tests only edit it, nothing listens on it). */
const samplePort = /port: (\d+)/.exec(thermostat)![1];

/** Errors, then warnings. */
function validateText(text: string, file = 'input.yaml'): Problem[] {
  const parsed = parseSource(file, text);
  const result = validateObjects(parsed.objects);
  return [...parsed.problems, ...result.problems, ...result.warnings];
}

/** The 1-based line of the `nth` occurrence (0-based) of `needle`. */
function lineOf(text: string, needle: string, nth = 0): number {
  return edit(text, needle, needle, nth).line;
}

/** `text` as a regular expression that matches it literally. */
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

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
  severity?: Severity;
}

/** A `report` block (edgetwin's report strategy) added to the visitor of the thermostat's `temperature`. */
const withReport = (block: string, nth = 0) =>
  edit(
    thermostat,
    '          dataType: int16\n',
    `          dataType: int16\n          report:\n${block}`,
    nth,
  );

/** The energy meter sample and a second meter on the same RS-485 line, slave 3. */
const meterDevice = meter.slice(meter.indexOf('---'));
const twoMeters = `${meter}${meterDevice.replace('name: energy-meter-01', 'name: energy-meter-02').replace('slaveID: "2"', 'slaveID: "3"')}`;
const meterLine = (needle: string) => `input.yaml:${lineOf(twoMeters, needle)}`;
const meterWithoutDataBits = edit(twoMeters, '      dataBits: 8\n', '').text;
/** The serial scale moved onto the meters' line: same baud rate, but parity none against even. */
const meterAndScale = `${twoMeters}---\n${scale.replace('serialName: /dev/ttyUSB1', 'serialName: /dev/ttyUSB0')}`;
const twoThermostats = edit(
  `${thermostat}${thermostat.slice(thermostat.indexOf('---'))}`,
  'name: thermostat-01',
  'name: thermostat-02',
  1,
).text;

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
    message: /"abc" is not an INT: the desired value is ignored/,
    severity: 'warning',
  },
  {
    name: 'desired above maximum',
    input: edit(thermostat, 'value: "21.5"', 'value: "80"'),
    path: 'spec.properties[1].desired.value',
    message: /80 is above the maximum 35: the desired value is ignored/,
    severity: 'warning',
  },
  {
    name: 'desired on a ReadOnly property',
    input: edit(
      thermostat,
      '- name: temperature\n      collectCycle: 1000\n',
      '- name: temperature\n      desired: {value: "20"}\n      collectCycle: 1000\n',
    ),
    path: 'spec.properties[0].desired',
    message: /ReadOnly in the model: its desired value is ignored/,
    lineDelta: 1,
    severity: 'warning',
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
    message: /"opcua" does not match the device protocol "modbus" \(the visitor is used as it is\)/,
    severity: 'warning',
  },
  {
    name: 'minimum above maximum in the model',
    input: edit(thermostat, 'minimum: "5"', 'minimum: "50"'),
    path: 'spec.properties[1].maximum',
    message: /is below the minimum \(50 > 35\): every desired value will be refused/,
    lineDelta: 1,
    severity: 'warning',
  },
  {
    name: 'report: negative deadband',
    input: withReport('            deadband: -1\n'),
    path: 'spec.properties[0].visitors.configData.report.deadband',
    message: /must be >= 0 \(got -1\)/,
    lineDelta: 2,
  },
  {
    name: 'report: heartbeat 0',
    input: withReport('            onChange: true\n            heartbeat: "0"\n'),
    path: 'spec.properties[0].visitors.configData.report.heartbeat',
    message: /must be >= 1 \(got 0\)/,
    lineDelta: 3,
  },
  {
    name: 'report: a deadband that is not a number',
    input: withReport('            deadbandPercent: two\n'),
    path: 'spec.properties[0].visitors.configData.report.deadbandPercent',
    message: /must be a number \(got "two"\)/,
    lineDelta: 2,
  },
  {
    name: 'report: a misspelt field',
    input: withReport('            deadBand: 0.5\n'),
    path: 'spec.properties[0].visitors.configData.report.deadBand',
    message: /unknown field \(did you mean "deadband"\?\)/,
    lineDelta: 2,
  },
  {
    name: 'report: a heartbeat without onChange or a deadband',
    input: withReport('            heartbeat: 60000\n'),
    path: 'spec.properties[0].visitors.configData.report.heartbeat',
    message: /needs onChange, deadband or deadbandPercent/,
    lineDelta: 2,
  },
  {
    name: 'report: onChange false with a deadband',
    input: withReport('            onChange: false\n            deadband: 0.5\n'),
    path: 'spec.properties[0].visitors.configData.report.onChange',
    message: /false contradicts deadband/,
    lineDelta: 2,
  },
  {
    name: 'report: a deadband on a BOOLEAN property',
    input: edit(
      thermostat,
      '          limit: 1\n  stateReport',
      '          limit: 1\n          report: {deadband: 1}\n  stateReport',
    ),
    path: 'spec.properties[2].visitors.configData.report.deadband',
    message: /applies only to INT, FLOAT and DOUBLE properties \(this one is BOOLEAN\)/,
    lineDelta: 1,
  },
  {
    name: 'report: in the model default visitor, reported on the model',
    input: edit(
      thermostat,
      '      type: BOOLEAN\n      accessMode: ReadWrite\n',
      '      type: BOOLEAN\n      accessMode: ReadWrite\n      visitors:\n        protocolName: modbus\n        configData: {register: CoilRegister, offset: 0, report: {onChange: maybe}}\n',
    ),
    path: 'spec.properties[2].visitors.configData.report.onChange',
    message: /must be true or false \(got "maybe"\)/,
    lineDelta: 4,
  },
  {
    name: 'a property read and sent nowhere (reportToCloud false)',
    input: edit(thermostat, 'reportToCloud: true', 'reportToCloud: false'),
    path: 'spec.properties[0].reportToCloud',
    message:
      /is read every 1000 ms and goes nowhere: reportToCloud is false and there is no pushMethod \(set reportToCloud: true or add a pushMethod\)/,
    severity: 'warning',
  },
  {
    name: 'a property read and sent nowhere (reportToCloud absent)',
    input: edit(
      thermostat,
      '      reportCycle: 1000\n      reportToCloud: true\n',
      '      reportCycle: 1000\n',
    ),
    path: 'spec.properties[0]',
    message: /is read every 1000 ms and goes nowhere: reportToCloud is not set/,
    lineDelta: -2,
    severity: 'warning',
  },
  {
    name: 'line settings: a second baud rate on one serialName',
    input: edit(twoMeters, 'baudRate: 9600', 'baudRate: 115200', 1),
    path: 'spec.protocol.configData.baudRate',
    message: new RegExp(
      `^115200 conflicts with 9600 for /dev/ttyUSB0 set by energy-meter-01 \\(${literal(meterLine('baudRate: 9600'))}\\)`,
    ),
  },
  {
    name: 'line settings: parity letters are compared by meaning',
    input: edit(twoMeters, 'parity: even', 'parity: O', 1),
    path: 'spec.protocol.configData.parity',
    message: new RegExp(
      `^odd conflicts with even for /dev/ttyUSB0 set by energy-meter-01 \\(${literal(meterLine('parity: even'))}\\)`,
    ),
  },
  {
    name: 'line settings: a value against the default of the first device',
    input: edit(meterWithoutDataBits, 'dataBits: 8', 'dataBits: 7'),
    path: 'spec.protocol.configData.dataBits',
    message: new RegExp(
      `^7 conflicts with 8 \\(the default\\) for /dev/ttyUSB0 used by energy-meter-01 \\(input\\.yaml:${lineOf(meterWithoutDataBits, '    configData:\n      communicateMode')}\\)`,
    ),
  },
  {
    name: 'line settings: a serial device on a Modbus RTU line',
    input: edit(meterAndScale, 'parity: none', 'parity: none'),
    path: 'spec.protocol.configData.parity',
    message: new RegExp(
      `^none conflicts with even for /dev/ttyUSB0 set by energy-meter-01 \\(${literal(meterLine('parity: even'))}\\)`,
    ),
  },
  {
    name: 'two devices with one slaveID on an RS-485 line',
    input: edit(twoMeters, 'slaveID: "3"', 'slaveID: "2"'),
    path: 'spec.protocol.configData.slaveID',
    message: new RegExp(
      `^2 is also the slaveID of energy-meter-01 on /dev/ttyUSB0 \\(${literal(meterLine('slaveID: "2"'))}\\)`,
    ),
  },
  {
    name: 'two devices with one slaveID on a Modbus TCP endpoint',
    input: edit(twoThermostats, 'slaveID: 1', 'slaveID: 1', 1),
    path: 'spec.protocol.configData.slaveID',
    message: new RegExp(
      `^1 is also the slaveID of thermostat-01 on 127\\.0\\.0\\.1:${samplePort} \\(input\\.yaml:${lineOf(thermostat, 'slaveID: 1')}\\)`,
    ),
  },
];

describe('validate: bad input names the field and its line', () => {
  it.each(cases)('$name', ({ input, path, message, lineDelta = 0, severity = 'error' }) => {
    const problems = validateText(input.text);
    const problem = problems.find((p) => p.path === path);
    expect(problem, `no problem at ${path}; got ${JSON.stringify(problems, null, 1)}`).toBeDefined();
    expect(problem!.message).toMatch(message);
    expect(problem!.line).toBe(input.line + lineDelta);
    expect(problem!.file).toBe('input.yaml');
    expect(problem!.severity).toBe(severity);
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
        {
          file: 'input.yaml',
          line: 1,
          col: 1,
          path: '',
          message: 'file is empty: no documents',
          severity: 'error',
        },
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
    expect(result.warnings).toEqual([]);
    // The http sample's protocol is not among device-models' own schemas (the http mapper brings its own):
    // carried unchecked here, as any protocol of your own; `edgetwin validate` checks it.
    expect(result.counts).toMatchObject({ DeviceModel: 6, Device: 6 });
    expect(result.devices.map((d) => d.id).sort()).toEqual([
      'default/ble-thermometer-01',
      'default/energy-meter-01',
      'default/plug-01',
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

describe('validate: report strategies (visitors.configData.report)', () => {
  it('are accepted for every protocol, resolved, and kept out of the visitor the protocol sees', () => {
    const report = '\n          report: {onChange: "true", heartbeat: "60000"}';
    const texts = [thermostat, tank, ble, scale, meter].map((t) =>
      t.replace(/^ {8}configData:$/gm, `        configData:${report}`),
    );
    const result = validateObjects(texts.flatMap((t, i) => parseSource(`${i}.yaml`, t).objects));
    expect(result.problems).toEqual([]);
    expect(result.devices).toHaveLength(5);
    for (const property of result.devices.flatMap((d) => d.properties)) {
      expect(property.report).toEqual({ onChange: true, heartbeat: 60000 });
      expect(property.visitor).not.toHaveProperty('report');
    }
  });

  it('resolve a deadband to onChange, and no report block to no strategy', () => {
    const text = withReport('            deadband: "0.5"\n            deadbandPercent: 2\n').text;
    const [device] = validateObjects(parseSource('x.yaml', text).objects).devices;
    expect(device!.properties[0]!.report).toEqual({ onChange: true, deadband: 0.5, deadbandPercent: 2 });
    expect(device!.properties[0]!.visitor).toEqual({
      register: 'InputRegister',
      offset: 0,
      limit: 1,
      scale: 0.1,
      dataType: 'int16',
    });
    expect(device!.properties[1]).not.toHaveProperty('report');
  });

  it("come from the model's default visitor unless the device writes its own", () => {
    const text = edit(
      thermostat,
      '      type: FLOAT\n      accessMode: ReadOnly\n',
      '      type: FLOAT\n      accessMode: ReadOnly\n      visitors:\n        protocolName: modbus\n        configData: {register: InputRegister, offset: 0, report: {deadbandPercent: 5}}\n',
    ).text;
    const [device] = validateObjects(parseSource('x.yaml', text).objects).devices;
    expect(device!.properties[0]!.report).toEqual({ onChange: true, deadbandPercent: 5 });
    expect(device!.properties[0]!.visitor).not.toHaveProperty('report');
    const own = edit(
      text,
      '          dataType: int16\n',
      '          dataType: int16\n          report: {deadband: 1}\n',
    ).text;
    const [overridden] = validateObjects(parseSource('x.yaml', own).objects).devices;
    expect(overridden!.properties[0]!.report).toEqual({ onChange: true, deadband: 1 });
  });
});

/** A model of `registers` INT input registers and `devices` Modbus RTU devices on one line reading them all. */
function rtuLine(devices: number, registers: number, baudRate: number, collectCycle: number): string {
  const names = Array.from({ length: registers }, (_, i) => `r${i}`);
  const model = `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: {name: line-model}
spec:
  protocol: modbus
  properties:
${names.map((n) => `    - {name: ${n}, type: INT, accessMode: ReadOnly}`).join('\n')}
`;
  const device = (d: number) => `---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: unit-${d}}
spec:
  deviceModelRef: {name: line-model}
  nodeName: edge-node-1
  protocol:
    protocolName: modbus
    configData: {serialName: /dev/ttyUSB0, baudRate: ${baudRate}, slaveID: ${d}}
  properties:
${names
  .map(
    (n, i) => `    - name: ${n}
      collectCycle: ${collectCycle}
      reportToCloud: true
      visitors: {protocolName: modbus, configData: {register: InputRegister, offset: ${i}}}`,
  )
  .join('\n')}
`;
  return model + Array.from({ length: devices }, (_, d) => device(d + 1)).join('');
}

describe('validate: devices sharing a line', () => {
  it('warns on every collectCycle of an RS-485 line asked for more than its baud rate carries', () => {
    const text = rtuLine(30, 10, 9600, 100);
    const result = validateObjects(parseSource('input.yaml', text).objects);
    expect(result.problems).toEqual([]);
    expect(result.devices).toHaveLength(30);
    // Per device one read of 10 registers: 8 + 25 bytes of 11 bits at 9600 baud (37.8 ms), 2 × 3.5
    // characters of silence (8.0 ms) and 5 ms of turnaround: 50.8 ms; 30 of them every 100 ms.
    expect(result.warnings).toHaveLength(300);
    const lines = text.split('\n').flatMap((l, i) => (l.includes('collectCycle:') ? [i + 1] : []));
    result.warnings.forEach((warning, i) => {
      expect(warning).toMatchObject({
        severity: 'warning',
        path: `spec.properties[${i % 10}].collectCycle`,
        line: lines[i],
        message:
          '30 devices on /dev/ttyUSB0 at 9600 baud need ~1.5 s per cycle; a 100 ms collectCycle cannot be served (the line is 1525 % loaded)',
      });
    });
  });

  it('accepts 4 devices at 115200 baud read every second', () => {
    const result = validateObjects(parseSource('input.yaml', rtuLine(4, 10, 115200, 1000)).objects);
    expect(result.problems).toEqual([]);
    expect(result.warnings).toEqual([]);
    expect(result.devices).toHaveLength(4);
  });

  it('compares parity letters by meaning and tells lines of different nodes apart', () => {
    const letters = edit(twoMeters, 'parity: even', 'parity: E', 1).text;
    expect(validateText(letters)).toEqual([]);
    const otherNode = edit(
      edit(twoMeters, 'baudRate: 9600', 'baudRate: 19200', 1).text,
      'nodeName: edge-node-1',
      'nodeName: edge-node-2',
      1,
    ).text;
    expect(validateText(otherNode)).toEqual([]);
  });

  it('leaves out of the resolved devices the one whose settings conflict', () => {
    const text = edit(twoMeters, 'baudRate: 9600', 'baudRate: 115200', 1).text;
    const result = validateObjects(parseSource('input.yaml', text).objects);
    expect(result.problems).toHaveLength(1);
    expect(result.devices.map((d) => d.name)).toEqual(['energy-meter-01']);
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
      {
        file,
        line: 1,
        col: 1,
        path: '',
        message: 'file is 10.0 MB, larger than the 4.0 MB limit',
        severity: 'error',
      },
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
