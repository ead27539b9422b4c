import { getProtocol, protocolNames } from '../protocols/index.js';
import { type Device, Device as DeviceSchema } from '../schema/device.js';
import {
  API_GROUP,
  API_VERSION,
  type DeviceModel,
  DeviceModel as DeviceModelSchema,
} from '../schema/device-model.js';
import { type DeviceStatus, DeviceStatus as DeviceStatusSchema } from '../schema/device-status.js';
import { REPORT_KEY } from '../schema/report.js';
import { NUMERIC_TYPES, parseTwinValue } from '../values.js';
import { type Violation, validateAgainst } from './ajv-problems.js';
import { formatPath, type PathSegment, type Problem, type Severity, suggest } from './problems.js';
import { checkReport } from './report-check.js';
import type { SourceObject } from './source.js';

export const KINDS = ['DeviceModel', 'Device', 'DeviceStatus'] as const;

export type Checked =
  | { kind: 'DeviceModel'; source: SourceObject; object: DeviceModel }
  | { kind: 'Device'; source: SourceObject; object: Device }
  | { kind: 'DeviceStatus'; source: SourceObject; object: DeviceStatus };

export interface CheckOptions {
  /** Protocols accepted without checking their configData (a mapper of your own not registered here). */
  extraProtocols?: readonly string[];
}

/** Reports problems (errors unless told) against one source object. */
export function reporter(source: SourceObject, problems: Problem[], severity: Severity = 'error') {
  return (path: readonly PathSegment[], message: string) => {
    const { line, col } = source.locate(path);
    problems.push({ file: source.file, line, col, path: formatPath(path), message, severity });
  };
}

/** `file:line` of the node at `path`, for messages that point at another place. */
export function where(source: SourceObject, path: readonly PathSegment[]): string {
  return `${source.file}:${source.locate(path).line}`;
}

/** Checks what one object can tell on its own: apiVersion, kind, schema, protocol configData, names, bounds. */
export function checkObject(
  source: SourceObject,
  options: CheckOptions = {},
): { checked?: Checked; problems: Problem[] } {
  const problems: Problem[] = [];
  const report = reporter(source, problems);
  const reportAll = (violations: Violation[]) => {
    for (const v of violations) report(v.path, v.message);
  };
  const value = source.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    report([], 'a document must be a mapping with apiVersion, kind, metadata and spec');
    return { problems };
  }
  const { apiVersion, kind } = value as { apiVersion?: unknown; kind?: unknown };
  if (apiVersion !== API_VERSION) {
    if (apiVersion === undefined) report(['apiVersion'], `is required (${API_VERSION})`);
    else if (typeof apiVersion === 'string' && apiVersion.startsWith(`${API_GROUP}/`))
      report(
        ['apiVersion'],
        `${apiVersion} is not supported: edgetwin reads ${API_VERSION} (KubeEdge 1.15 and later)`,
      );
    else report(['apiVersion'], `unknown apiVersion ${JSON.stringify(apiVersion)} (expected ${API_VERSION})`);
  }
  if (!KINDS.includes(kind as (typeof KINDS)[number])) {
    const hint = typeof kind === 'string' ? suggest(kind, KINDS) : undefined;
    report(
      ['kind'],
      kind === undefined
        ? `is required (one of ${KINDS.join(', ')})`
        : `unknown kind ${JSON.stringify(kind)} (expected ${KINDS.join(', ')})${hint ? `; did you mean ${hint}?` : ''}`,
    );
  }
  if (problems.length > 0) return { problems };

  if (kind === 'DeviceModel') {
    reportAll(validateAgainst(DeviceModelSchema, value));
    if (problems.length > 0) return { problems };
    const object = value as DeviceModel;
    checkModel(object, report, options);
    return { checked: { kind, source, object }, problems };
  }
  if (kind === 'Device') {
    reportAll(validateAgainst(DeviceSchema, value));
    if (problems.length > 0) return { problems };
    const object = value as Device;
    checkDevice(object, report, reportAll, options);
    return { checked: { kind, source, object }, problems };
  }
  reportAll(validateAgainst(DeviceStatusSchema, value));
  return problems.length > 0
    ? { problems }
    : { checked: { kind: 'DeviceStatus', source, object: value as DeviceStatus }, problems };
}

type Report = (path: readonly PathSegment[], message: string) => void;

function checkProtocolName(
  name: string,
  path: PathSegment[],
  report: Report,
  options: CheckOptions,
): boolean {
  if (getProtocol(name) || options.extraProtocols?.includes(name)) return true;
  const hint = suggest(name, protocolNames());
  report(
    path,
    `unknown protocol ${JSON.stringify(name)} (known: ${protocolNames().join(', ')})${hint ? `; did you mean ${hint}?` : ''}`,
  );
  return false;
}

function checkUnique(
  names: readonly string[],
  path: (i: number) => PathSegment[],
  what: string,
  report: Report,
) {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (seen.has(name)) report(path(i), `duplicate ${what} name ${JSON.stringify(name)}`);
    seen.add(name);
  });
}

function checkModel(model: DeviceModel, report: Report, options: CheckOptions): void {
  const properties = model.spec.properties ?? [];
  checkProtocolName(model.spec.protocol, ['spec', 'protocol'], report, options);
  checkUnique(
    properties.map((p) => p.name),
    (i) => ['spec', 'properties', i, 'name'],
    'property',
    report,
  );
  properties.forEach((property, i) => {
    const at = (field: string): PathSegment[] => ['spec', 'properties', i, field];
    const bounds: number[] = [];
    for (const field of ['minimum', 'maximum'] as const) {
      const text = property[field];
      if (text === undefined || text === '') continue;
      if (!NUMERIC_TYPES.includes(property.type)) {
        report(at(field), `applies only to INT, FLOAT and DOUBLE properties (this one is ${property.type})`);
        continue;
      }
      const parsed = parseTwinValue(property.type, text);
      if (parsed.ok) bounds.push(parsed.value as number);
      else report(at(field), parsed.reason);
    }
    if (bounds.length === 2 && bounds[0]! > bounds[1]!)
      report(at('maximum'), `is below the minimum (${property.minimum} > ${property.maximum})`);
    if (property.visitors && property.visitors.protocolName !== model.spec.protocol)
      report(
        ['spec', 'properties', i, 'visitors', 'protocolName'],
        `${JSON.stringify(property.visitors.protocolName)} does not match the model protocol ${JSON.stringify(model.spec.protocol)}`,
      );
    const configData = property.visitors?.configData;
    if (configData && REPORT_KEY in configData) {
      const base = ['spec', 'properties', i, 'visitors', 'configData', REPORT_KEY];
      for (const v of checkReport(configData[REPORT_KEY], property, base).violations)
        report(v.path, v.message);
    }
  });
}

function checkDevice(
  device: Device,
  report: Report,
  reportAll: (v: Violation[]) => void,
  options: CheckOptions,
) {
  const { spec } = device;
  const protocolName = spec.protocol.protocolName;
  if (checkProtocolName(protocolName, ['spec', 'protocol', 'protocolName'], report, options)) {
    const protocol = getProtocol(protocolName);
    if (protocol) {
      const base: PathSegment[] = ['spec', 'protocol', 'configData'];
      spec.protocol.configData ??= {};
      const violations = validateAgainst(protocol.config, spec.protocol.configData, base);
      reportAll(violations);
      if (violations.length === 0)
        for (const f of protocol.checkConfig?.(spec.protocol.configData) ?? [])
          report([...base, ...f.path], f.message);
    }
  }
  const properties = spec.properties ?? [];
  checkUnique(
    properties.map((p) => p.name),
    (i) => ['spec', 'properties', i, 'name'],
    'property',
    report,
  );
  checkUnique(
    (spec.methods ?? []).map((m) => m.name),
    (i) => ['spec', 'methods', i, 'name'],
    'method',
    report,
  );
  properties.forEach((property, i) => {
    if (property.visitors && property.visitors.protocolName !== protocolName)
      report(
        ['spec', 'properties', i, 'visitors', 'protocolName'],
        `${JSON.stringify(property.visitors.protocolName)} does not match the device protocol ${JSON.stringify(protocolName)}`,
      );
  });
  const names = new Set(properties.map((p) => p.name));
  (spec.methods ?? []).forEach((method, i) => {
    (method.propertyNames ?? []).forEach((name, j) => {
      if (!names.has(name))
        report(
          ['spec', 'methods', i, 'propertyNames', j],
          `names no property of this device: ${JSON.stringify(name)}`,
        );
    });
  });
}
