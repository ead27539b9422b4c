import type { TSchema } from '@sinclair/typebox';
import { type ProtocolLookup, protocolLookup } from '../protocols/index.js';
import type { ProtocolDefinition } from '../protocols/types.js';
import { DEFAULT_CYCLE_MS, type ResolvedDevice, type ResolvedProperty } from '../resolved.js';
import type { Device, DeviceProperty } from '../schema/device.js';
import type { DeviceModel, ModelProperty, ModelPropertySpec } from '../schema/device-model.js';
import { REPORT_KEY, type ReportStrategy } from '../schema/report.js';
import { findSecretRefs, type SecretSite } from '../secret-refs.js';
import { checkTwinValue, NUMERIC_TYPES, parseTwinValue } from '../values.js';
import { validateAgainst } from './ajv-problems.js';
import { type Checked, type Report, reporter } from './check-object.js';
import { dropNulls } from './drop-nulls.js';
import { checkLines, type Placed } from './lines.js';
import { formatPath, type PathSegment, type Problem, suggest } from './problems.js';
import { checkReport } from './report-check.js';

type Of<K extends Checked['kind']> = Extract<Checked, { kind: K }>;

const keyOf = (o: { metadata: { name: string; namespace?: string } }) =>
  `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;

/** Checks what needs several documents (models, devices, statuses) and resolves the devices that pass. */
export function crossCheck(
  checked: readonly Checked[],
  protocols: ProtocolLookup = protocolLookup(),
): {
  problems: Problem[];
  warnings: Problem[];
  devices: ResolvedDevice[];
} {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const models = indexUnique(
    checked.filter((c): c is Of<'DeviceModel'> => c.kind === 'DeviceModel'),
    problems,
  );
  const devices = indexUnique(
    checked.filter((c): c is Of<'Device'> => c.kind === 'Device'),
    problems,
  );
  const placed: Placed[] = [];
  for (const entry of devices.values()) {
    const before = problems.length;
    const device = resolveDevice(entry, models, problems, warnings, protocols);
    if (device && problems.length === before) placed.push({ source: entry.source, device });
  }
  // Devices sharing a line are compared once each resolved on its own (their configData normalised).
  const failed = checkLines(placed, problems, warnings);
  const resolved = placed.map((p) => p.device).filter((d) => !failed.has(d.id));
  for (const status of checked.filter((c): c is Of<'DeviceStatus'> => c.kind === 'DeviceStatus')) {
    const owner = devices.get(keyOf(status.object));
    const model = owner && models.get(modelKey(owner.object));
    if (!model) continue;
    const warn = reporter(status.source, warnings, 'warning');
    (status.object.status?.twins ?? []).forEach((twin, i) => {
      if (twin.propertyName && !model.object.spec?.properties?.some((p) => p.name === twin.propertyName))
        warn(
          ['status', 'twins', i, 'propertyName'],
          `is not a property of DeviceModel "${model.object.metadata.name}"`,
        );
    });
  }
  return { problems, warnings, devices: resolved };
}

function modelKey(device: Device): string {
  return `${device.metadata.namespace ?? 'default'}/${device.spec?.deviceModelRef?.name}`;
}

function indexUnique<T extends Of<'DeviceModel'> | Of<'Device'>>(
  entries: T[],
  problems: Problem[],
): Map<string, T> {
  const index = new Map<string, T>();
  for (const entry of entries) {
    const key = keyOf(entry.object);
    const first = index.get(key);
    if (first) {
      const at = first.source.locate(['metadata', 'name']);
      reporter(entry.source, problems)(
        ['metadata', 'name'],
        `${entry.kind} ${key} is defined twice (first at ${first.source.file}:${at.line})`,
      );
    } else index.set(key, entry);
  }
  return index;
}

/** Where a device's problems go: its own document, or its model's for what the model gave it. */
interface Sink {
  report: Report;
  warn: Report;
  reportOnModel: Report;
  warnOnModel: Report;
}

/**
 * The device's configData over the model's default one, key by key (KubeEdge 1.22+); null is no value,
 * as Go reads it.
 */
function mergeConfig(
  base: Record<string, unknown> | undefined,
  own: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const layer of [base, own])
    for (const [key, value] of Object.entries(layer ?? {})) if (value !== null) merged[key] = value;
  return merged;
}

/** The device's own configData block and its model's default one, and where each is written. */
interface Layers {
  own: Record<string, unknown> | undefined;
  model: Record<string, unknown> | undefined;
  at: { device: PathSegment[]; model: PathSegment[] };
}

/** Where a problem at `path` (inside merged configData) was written: the model's block, if only it has the key. */
function place(
  path: readonly PathSegment[],
  { own, model, at }: Layers,
): { path: PathSegment[]; onModel: boolean } {
  const key = path[0];
  const onModel = typeof key === 'string' && !(key in (own ?? {})) && key in (model ?? {});
  return { path: [...(onModel ? at.model : at.device), ...path], onModel };
}

/**
 * Validates merged configData against a protocol schema (normalising it in place): a value the schema refuses
 * is an error, a key it does not know a warning (KubeEdge's configData is free-form, and the mapper ignores
 * it). Each is reported where it was written: the device's block, or its model's.
 */
function checkConfigData(
  protocol: ProtocolDefinition,
  schema: TSchema,
  merged: Record<string, unknown>,
  layers: Layers,
  sink: Sink,
): boolean {
  dropNulls(schema, merged);
  let ok = true;
  for (const v of validateAgainst(schema, merged)) {
    const { path, onModel } = place(v.path, layers);
    if (v.unknownField)
      (onModel ? sink.warnOnModel : sink.warn)(
        path,
        `${v.message}: the ${protocol.protocol} mapper ignores it`,
      );
    else {
      ok = false;
      (onModel ? sink.reportOnModel : sink.report)(path, v.message);
    }
  }
  return ok;
}

function resolveDevice(
  entry: Of<'Device'>,
  models: Map<string, Of<'DeviceModel'>>,
  problems: Problem[],
  warnings: Problem[],
  protocols: ProtocolLookup,
): ResolvedDevice | undefined {
  const device = entry.object;
  const spec = device.spec!;
  const namespace = device.metadata.namespace ?? 'default';
  const modelEntry = models.get(modelKey(device));
  const report = reporter(entry.source, problems);
  if (!modelEntry) {
    const name = spec.deviceModelRef?.name ?? '';
    const inNamespace = [...models.values()]
      .filter((m) => (m.object.metadata.namespace ?? 'default') === namespace)
      .map((m) => m.object.metadata.name);
    const hint = suggest(name, inNamespace);
    report(
      ['spec', 'deviceModelRef', 'name'],
      `DeviceModel "${name}" not found in namespace "${namespace}"${hint ? `; did you mean "${hint}"?` : ''}`,
    );
    return undefined;
  }
  const sink: Sink = {
    report,
    warn: reporter(entry.source, warnings, 'warning'),
    reportOnModel: reporter(modelEntry.source, problems),
    warnOnModel: reporter(modelEntry.source, warnings, 'warning'),
  };
  const model = modelEntry.object;
  const protocolName = resolveProtocolName(device, model, sink);
  const protocol = protocols.get(protocolName);
  const ownConfig = spec.protocol?.configData;
  const config = mergeConfig(model.spec?.protocolConfigData, ownConfig);
  const layers: Layers = {
    own: ownConfig,
    model: model.spec?.protocolConfigData,
    at: { device: ['spec', 'protocol', 'configData'], model: ['spec', 'protocolConfigData'] },
  };
  if (protocol) {
    for (const [alias, key] of Object.entries(protocol.configAliases ?? {}))
      if (config[alias] !== undefined && config[key] === undefined) {
        config[key] = config[alias];
        delete config[alias];
      }
    if (checkConfigData(protocol, protocol.configSchema, config, layers, sink))
      for (const f of protocol.checkConfig?.(config) ?? []) {
        const { path, onModel } = place(f.path, layers);
        (onModel ? sink.reportOnModel : sink.report)(path, f.message);
      }
  }
  const secrets = secretSites(config, layers, { device: entry, model: modelEntry }, sink);
  const properties: ResolvedProperty[] = [];
  (spec.properties ?? []).forEach((property, i) => {
    const resolvedProperty = resolveProperty(property, i, model, protocolName, protocol, sink);
    if (resolvedProperty) properties.push(resolvedProperty);
  });
  const stateReport = spec.stateReport ?? device.status ?? {};
  return {
    id: `${namespace}/${device.metadata.name}`,
    namespace,
    name: device.metadata.name,
    nodeName: spec.nodeName ?? '',
    protocol: protocolName,
    config,
    ...(secrets.length > 0 ? { secrets } : {}),
    properties,
    stateReport: {
      reportToCloud: stateReport.reportToCloud ?? false,
      reportCycle: stateReport.reportCycle || DEFAULT_CYCLE_MS,
    },
    device: device as ResolvedDevice['device'],
    model,
  };
}

/** The secret references in merged configData, each placed where it is written (device or model). */
function secretSites(
  config: Record<string, unknown>,
  layers: Layers,
  entries: { device: Of<'Device'>; model: Of<'DeviceModel'> },
  sink: Sink,
): SecretSite[] {
  return findSecretRefs(
    config,
    (at) => {
      const { path, onModel } = place(at, layers);
      const { file, locate } = (onModel ? entries.model : entries.device).source;
      const { line, col } = locate(path);
      return { field: formatPath(path), at: line > 0 ? `${file}:${line}:${col}` : file };
    },
    (at, message, severity) => {
      const { path, onModel } = place(at, layers);
      const report =
        severity === 'error'
          ? onModel
            ? sink.reportOnModel
            : sink.report
          : onModel
            ? sink.warnOnModel
            : sink.warn;
      report(path, message);
    },
  );
}

/**
 * The device's protocol name, or else its model's. Any name is valid: one with no built-in mapper waits for a
 * mapper of your own on the EventBus.
 */
function resolveProtocolName(device: Device, model: DeviceModel, sink: Sink): string {
  const own = device.spec?.protocol?.protocolName ?? '';
  const fromModel = model.spec?.protocol ?? '';
  if (own && fromModel && own !== fromModel)
    sink.warn(
      ['spec', 'protocol', 'protocolName'],
      `${JSON.stringify(own)} does not match the protocol of DeviceModel "${model.metadata.name}" (${fromModel}): the device's is used`,
    );
  const name = own || fromModel;
  if (!name)
    sink.warn(
      device.spec?.protocol ? ['spec', 'protocol'] : ['spec'],
      `names no protocol, and neither does DeviceModel "${model.metadata.name}": no mapper will serve this device (its twin still works over the EventBus)`,
    );
  return name;
}

function resolveProperty(
  property: DeviceProperty,
  i: number,
  model: DeviceModel,
  protocolName: string,
  protocol: ProtocolDefinition | undefined,
  sink: Sink,
): ResolvedProperty | undefined {
  const { report, warn } = sink;
  const at = (...rest: PathSegment[]): PathSegment[] => ['spec', 'properties', i, ...rest];
  if (!property.name) return undefined;
  const modelProperties = model.spec?.properties ?? [];
  const modelIndex = modelProperties.findIndex((p) => p.name === property.name);
  const written = modelProperties[modelIndex];
  if (!written) {
    const hint = suggest(
      property.name,
      modelProperties.flatMap((p) => (p.name ? [p.name] : [])),
    );
    report(
      at('name'),
      `property "${property.name}" is not in DeviceModel "${model.metadata.name}"${hint ? `; did you mean "${hint}"?` : ''}`,
    );
    return undefined;
  }
  const modelProperty = runnable(written, property.name);
  const desired = checkDesired(property, modelProperty, at, warn);
  const visitorProtocol = property.visitors?.protocolName;
  if (visitorProtocol && protocolName && visitorProtocol !== protocolName)
    warn(
      at('visitors', 'protocolName'),
      `${JSON.stringify(visitorProtocol)} does not match the device protocol ${JSON.stringify(protocolName)} (the visitor is used as it is)`,
    );
  const merged = mergeVisitor(written, property);
  if (!merged && protocol) {
    report(at(), 'visitors is required (the model gives no default visitor for this property)');
    return undefined;
  }
  const base = at('visitors', 'configData');
  const { visitor, strategy } = takeReport(merged ?? {}, property, modelProperty, base, report);
  if (protocol) {
    const layers: Layers = {
      own: property.visitors?.configData,
      model: written.visitors?.configData,
      at: { device: base, model: ['spec', 'properties', modelIndex, 'visitors', 'configData'] },
    };
    if (checkConfigData(protocol, protocol.visitorSchema, visitor, layers, sink))
      for (const f of protocol.checkVisitor?.(visitor, modelProperty) ?? []) {
        const { path, onModel } = place(f.path, layers);
        (onModel ? sink.reportOnModel : sink.report)(path, f.message);
      }
  }
  const collectCycle = property.collectCycle || DEFAULT_CYCLE_MS;
  const read = protocol?.isRead?.(visitor) ?? true;
  if (read && !property.reportToCloud && !property.pushMethod)
    warn(
      property.reportToCloud === undefined ? at() : at('reportToCloud'),
      `is read every ${collectCycle} ms and goes nowhere: reportToCloud is ${property.reportToCloud === undefined ? 'not set' : 'false'} and there is no pushMethod (set reportToCloud: true or add a pushMethod)`,
    );
  return {
    name: property.name,
    model: modelProperty,
    visitor,
    collectCycle,
    reportCycle: property.reportCycle || DEFAULT_CYCLE_MS,
    reportToCloud: property.reportToCloud ?? false,
    ...(property.pushMethod ? { pushMethod: property.pushMethod } : {}),
    ...(desired ? { desired } : {}),
    ...(strategy ? { report: strategy } : {}),
  };
}

/**
 * The model property as a device runs it: typed (STRING when the model says nothing, as KubeEdge's twin
 * takes it), with only the bounds that apply and parse (the others were warned about on the model).
 */
function runnable(written: ModelPropertySpec, name: string): ModelProperty {
  const { minimum, maximum, ...rest } = written;
  const type = written.type ?? 'STRING';
  const usable = (text: string | undefined) =>
    text !== undefined && text !== '' && NUMERIC_TYPES.includes(type) && parseTwinValue(type, text).ok;
  return {
    ...rest,
    name,
    type,
    ...(usable(minimum) ? { minimum } : {}),
    ...(usable(maximum) ? { maximum } : {}),
  };
}

/**
 * The desired value a device can be given. KubeEdge takes any string in the Device and refuses a value of the
 * wrong type only when it reaches the twin; here such a value is a warning and is left out, so the device
 * runs and its twin keeps the desired value it has.
 */
function checkDesired(
  property: DeviceProperty,
  model: ModelProperty,
  at: (...rest: PathSegment[]) => PathSegment[],
  warn: Report,
): string | undefined {
  const desired = property.desired?.value;
  if (desired === undefined || desired === '') return undefined;
  if (model.accessMode === 'ReadOnly') {
    warn(at('desired'), `property "${property.name}" is ReadOnly in the model: its desired value is ignored`);
    return undefined;
  }
  const checked = checkTwinValue(model.type, desired, model);
  if (checked.ok) return desired;
  warn(at('desired', 'value'), `${checked.reason}: the desired value is ignored`);
  return undefined;
}

/**
 * Takes the edgetwin `report` block out of a merged visitor (the protocol never sees it) and checks it.
 * The device's own block is reported at its path; a block from the model was reported on the model
 * already (check-object.ts), so it is only re-checked here to be resolved.
 */
function takeReport(
  merged: Record<string, unknown>,
  property: DeviceProperty,
  modelProperty: ModelProperty,
  base: PathSegment[],
  report: Report,
): { visitor: Record<string, unknown>; strategy?: ReportStrategy } {
  const { [REPORT_KEY]: block, ...visitor } = merged;
  if (!(REPORT_KEY in merged)) return { visitor };
  const own = REPORT_KEY in (property.visitors?.configData ?? {});
  const checked = checkReport(block, modelProperty, [...base, REPORT_KEY]);
  if (own) for (const v of checked.violations) report(v.path, v.message);
  return checked.strategy ? { visitor, strategy: checked.strategy } : { visitor };
}

/** The model's default visitor overridden key by key by the device's (KubeEdge 1.22+). */
function mergeVisitor(
  modelProperty: ModelPropertySpec,
  property: DeviceProperty,
): Record<string, unknown> | undefined {
  if (!modelProperty.visitors && !property.visitors) return undefined;
  return mergeConfig(modelProperty.visitors?.configData, property.visitors?.configData);
}
