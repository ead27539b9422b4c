import { protocolLookup } from '../protocols/index.js';
import type { ProtocolDefinition } from '../protocols/types.js';
import { TWIN_KEY_PATTERN } from '../schema/common.js';
import { type Device, Device as DeviceSchema, type PushMethod } from '../schema/device.js';
import {
  API_GROUP,
  API_VERSION,
  type DeviceModel,
  DeviceModel as DeviceModelSchema,
  type ModelPropertySpec,
  PROPERTY_TYPES,
} from '../schema/device-model.js';
import { type DeviceStatus, DeviceStatus as DeviceStatusSchema } from '../schema/device-status.js';
import { REPORT_KEY } from '../schema/report.js';
import { NUMERIC_TYPES, parseTwinValue } from '../values.js';
import { validateAgainst } from './ajv-problems.js';
import { dropNulls } from './drop-nulls.js';
import { formatPath, type PathSegment, type Problem, type Severity, suggest } from './problems.js';
import { checkReport } from './report-check.js';
import type { SourceObject } from './source.js';

export const KINDS = ['DeviceModel', 'Device', 'DeviceStatus'] as const;

export type Checked =
  | { kind: 'DeviceModel'; source: SourceObject; object: DeviceModel }
  | { kind: 'Device'; source: SourceObject; object: Device }
  | { kind: 'DeviceStatus'; source: SourceObject; object: DeviceStatus };

/** What the checks of one object take into account: the protocols whose schemas apply. */
export interface CheckOptions {
  /**
   * Protocol names of mappers of your own. Any protocol name is valid without this; listing one only stops the
   * warning given to a name that differs from a built-in protocol's by case or punctuation (`Modbus`).
   */
  extraProtocols?: readonly string[];
  /**
   * The protocols whose configData and visitors are checked: registration objects or their schema half
   * (edgecore and the CLI pass the built-in ones and the plug-ins). Default: the built-in protocols' schemas.
   * Protocols given to `registerProtocol` are checked either way.
   */
  protocols?: readonly ProtocolDefinition[];
}

export type Report = (path: readonly PathSegment[], message: string) => void;

/** Reports problems (errors unless told) against one source object. */
export function reporter(source: SourceObject, problems: Problem[], severity: Severity = 'error'): Report {
  return (path: readonly PathSegment[], message: string) => {
    const { line, col } = source.locate(path);
    problems.push({ file: source.file, line, col, path: formatPath(path), message, severity });
  };
}

/** `file:line` of the node at `path`, for messages that point at another place. */
export function where(source: SourceObject, path: readonly PathSegment[]): string {
  return `${source.file}:${source.locate(path).line}`;
}

const SCHEMAS = { DeviceModel: DeviceModelSchema, Device: DeviceSchema, DeviceStatus: DeviceStatusSchema };

/**
 * Checks what one object can tell on its own: apiVersion, kind, schema (KubeEdge's CRD: what it refuses is
 * refused), then what edgetwin checks beyond it: errors where a device cannot run, warnings where it can.
 */
export function checkObject(
  source: SourceObject,
  options: CheckOptions = {},
): { checked?: Checked; problems: Problem[]; warnings: Problem[] } {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const report = reporter(source, problems);
  const warn = reporter(source, warnings, 'warning');
  const value = source.value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    report([], 'a document must be a mapping with apiVersion, kind, metadata and spec');
    return { problems, warnings };
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
  if (problems.length > 0) return { problems, warnings };

  const known = kind as (typeof KINDS)[number];
  dropNulls(SCHEMAS[known], value);
  for (const v of validateAgainst(SCHEMAS[known], value)) report(v.path, v.message);
  if (problems.length > 0) return { problems, warnings };
  const at = { report, warn, options };
  if (known === 'DeviceModel') {
    const object = value as DeviceModel;
    checkModel(object, at);
    return { checked: { kind: known, source, object }, problems, warnings };
  }
  if (known === 'Device') {
    const object = value as Device;
    const resolvable = checkDevice(object, at);
    return { ...(resolvable ? { checked: { kind: known, source, object } } : {}), problems, warnings };
  }
  return { checked: { kind: known, source, object: value as DeviceStatus }, problems, warnings };
}

interface Reporters {
  report: Report;
  warn: Report;
  options: CheckOptions;
}

/** Normalises a protocol name for comparison: `Modbus`, `MODBUS` and `mod-bus` all look like `modbus`. */
const looseName = (name: string) => name.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * Any protocol name is valid (KubeEdge's model: a mapper of your own serves it over the EventBus). A name that
 * is a built-in protocol's but for case or punctuation is almost certainly meant to be it, and is not.
 */
function checkProtocolName(name: string, path: PathSegment[], { warn, options }: Reporters): void {
  const protocols = protocolLookup(options.protocols);
  if (!name || protocols.get(name) || options.extraProtocols?.includes(name)) return;
  const builtIn = protocols.names().find((known) => looseName(known) === looseName(name));
  if (builtIn)
    warn(
      path,
      `${JSON.stringify(name)} is not the built-in ${builtIn} protocol (protocol names are compared exactly): ` +
        `no mapper here serves it unless one of your own is named so; did you mean ${builtIn}?`,
    );
}

function checkUnique(
  names: readonly (string | undefined)[],
  path: (i: number) => PathSegment[],
  what: string,
  report: Report,
) {
  const seen = new Set<string>();
  names.forEach((name, i) => {
    if (!name) return;
    if (seen.has(name)) report(path(i), `duplicate ${what} name ${JSON.stringify(name)}`);
    seen.add(name);
  });
}

function checkCycle(value: number | undefined, path: PathSegment[], report: Report): void {
  if (value !== undefined && value < 0)
    report(path, `must be >= 0 (got ${value}): no cycle can run on a negative period`);
}

const TWIN_KEY = new RegExp(TWIN_KEY_PATTERN);

function checkModel(model: DeviceModel, reporters: Reporters): void {
  const { report, warn } = reporters;
  const protocol = model.spec?.protocol;
  if (protocol) checkProtocolName(protocol, ['spec', 'protocol'], reporters);
  const properties = model.spec?.properties ?? [];
  checkUnique(
    properties.map((p) => p.name),
    (i) => ['spec', 'properties', i, 'name'],
    'property',
    report,
  );
  properties.forEach((property, i) => {
    const at = (...rest: PathSegment[]): PathSegment[] => ['spec', 'properties', i, ...rest];
    if (!property.name) warn(at(), 'has no name: no device can use this property');
    else if (!TWIN_KEY.test(property.name))
      report(
        at('name'),
        `${JSON.stringify(property.name)} is not valid: a property name is a twin key, 1 to 128 of a-z A-Z 0-9 - _ . , : / @ #`,
      );
    if (!property.type)
      warn(
        at(),
        `has no type: its values are taken as strings (STRING), as KubeEdge does (set type: one of ${PROPERTY_TYPES.join(', ')})`,
      );
    checkBounds(property, at, reporters);
    const visitorProtocol = property.visitors?.protocolName;
    if (visitorProtocol && protocol && visitorProtocol !== protocol)
      warn(
        at('visitors', 'protocolName'),
        `${JSON.stringify(visitorProtocol)} does not match the model protocol ${JSON.stringify(protocol)} (the visitor is used as it is)`,
      );
    const configData = property.visitors?.configData;
    if (configData && REPORT_KEY in configData)
      for (const v of checkReport(
        configData[REPORT_KEY],
        withType(property),
        at('visitors', 'configData', REPORT_KEY),
      ).violations)
        report(v.path, v.message);
  });
}

/** A model property with its type as it runs: one written without a type is a STRING. */
function withType(property: ModelPropertySpec) {
  return { ...property, name: property.name ?? '', type: property.type ?? 'STRING' };
}

/**
 * Bounds a device can run with, or not: ones that do not apply or do not parse are ignored (with a warning),
 * as KubeEdge ignores them; a minimum above the maximum refuses every desired value, which is said.
 */
function checkBounds(
  property: ModelPropertySpec,
  at: (...rest: PathSegment[]) => PathSegment[],
  { warn }: Reporters,
): void {
  const type = property.type ?? 'STRING';
  const bounds: number[] = [];
  for (const field of ['minimum', 'maximum'] as const) {
    const text = property[field];
    if (text === undefined || text === '') continue;
    if (!NUMERIC_TYPES.includes(type)) {
      warn(
        at(field),
        `is ignored: it applies only to INT, FLOAT and DOUBLE properties (this one is ${type})`,
      );
      continue;
    }
    const parsed = parseTwinValue(type, text);
    if (parsed.ok) bounds.push(parsed.value as number);
    else warn(at(field), `is ignored: ${parsed.reason}`);
  }
  if (bounds.length === 2 && bounds[0]! > bounds[1]!)
    warn(
      at('maximum'),
      `is below the minimum (${property.minimum} > ${property.maximum}): every desired value will be refused`,
    );
}

/** Checks a Device on its own; false when it cannot be resolved at all (it names no DeviceModel). */
function checkDevice(device: Device, reporters: Reporters): boolean {
  const { report, warn } = reporters;
  const { spec } = device;
  const modelRef = spec?.deviceModelRef;
  if (!modelRef?.name) {
    const path = !spec
      ? ['spec']
      : !modelRef
        ? ['spec', 'deviceModelRef']
        : ['spec', 'deviceModelRef', 'name'];
    report(path, 'is required: a device is an instance of a DeviceModel (spec.deviceModelRef.name)');
  }
  if (!spec) return false;
  const protocolName = spec.protocol?.protocolName;
  if (protocolName) checkProtocolName(protocolName, ['spec', 'protocol', 'protocolName'], reporters);
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
    warn,
  );
  properties.forEach((property, i) => {
    const at = (...rest: PathSegment[]): PathSegment[] => ['spec', 'properties', i, ...rest];
    if (!property.name)
      report(at(), 'name is required: it names the model property this one runs (the twin key)');
    checkCycle(property.collectCycle, at('collectCycle'), report);
    checkCycle(property.reportCycle, at('reportCycle'), report);
    if (property.pushMethod) checkPushMethod(property.pushMethod, at('pushMethod'), warn);
  });
  checkCycle(spec.stateReport?.reportCycle, ['spec', 'stateReport', 'reportCycle'], report);
  checkCycle(device.status?.reportCycle, ['status', 'reportCycle'], report);
  const names = new Set(properties.map((p) => p.name));
  (spec.methods ?? []).forEach((method, i) => {
    (method.propertyNames ?? []).forEach((name, j) => {
      if (!names.has(name))
        warn(
          ['spec', 'methods', i, 'propertyNames', j],
          `names no property of this device: ${JSON.stringify(name)}`,
        );
    });
  });
  return Boolean(modelRef?.name);
}

/** Values KubeEdge's CRD takes that no push can be made with: the device runs, the push fails. */
function checkPushMethod(push: PushMethod, base: PathSegment[], warn: Report): void {
  const port = push.http?.port;
  if (port !== undefined && (port < 1 || port > 65535))
    warn([...base, 'http', 'port'], `${port} is not a TCP port (1-65535): the HTTP push cannot be made`);
  const qos = push.mqtt?.qos;
  if (qos !== undefined && (qos < 0 || qos > 2))
    warn([...base, 'mqtt', 'qos'], `${qos} is not an MQTT QoS (0, 1 or 2): the MQTT push cannot be made`);
}
