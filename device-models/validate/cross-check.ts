import { getProtocol } from '../protocols/index.js';
import { DEFAULT_CYCLE_MS, type ResolvedDevice, type ResolvedProperty } from '../resolved.js';
import type { Device, DeviceProperty } from '../schema/device.js';
import type { DeviceModel, ModelProperty } from '../schema/device-model.js';
import { REPORT_KEY, type ReportStrategy } from '../schema/report.js';
import { checkTwinValue } from '../values.js';
import { validateAgainst } from './ajv-problems.js';
import { type Checked, reporter } from './check-object.js';
import { checkLines, type Placed } from './lines.js';
import type { PathSegment, Problem } from './problems.js';
import { suggest } from './problems.js';
import { checkReport } from './report-check.js';

type Report = (path: readonly PathSegment[], message: string) => void;

type Of<K extends Checked['kind']> = Extract<Checked, { kind: K }>;

const keyOf = (o: { metadata: { name: string; namespace?: string } }) =>
  `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;

/** Checks what needs several documents (models, devices, statuses) and resolves the devices that pass. */
export function crossCheck(checked: readonly Checked[]): {
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
    const device = resolveDevice(entry, models, problems, warnings);
    if (device && problems.length === before) placed.push({ source: entry.source, device });
  }
  // Devices sharing a line are compared once each resolved on its own (their configData normalised).
  const failed = checkLines(placed, problems, warnings);
  const resolved = placed.map((p) => p.device).filter((d) => !failed.has(d.id));
  for (const status of checked.filter((c): c is Of<'DeviceStatus'> => c.kind === 'DeviceStatus')) {
    const owner = devices.get(keyOf(status.object));
    const model = owner && models.get(modelKey(owner.object));
    if (!model) continue;
    const report = reporter(status.source, problems);
    (status.object.status?.twins ?? []).forEach((twin, i) => {
      if (!model.object.spec.properties?.some((p) => p.name === twin.propertyName))
        report(
          ['status', 'twins', i, 'propertyName'],
          `is not a property of DeviceModel "${model.object.metadata.name}"`,
        );
    });
  }
  return { problems, warnings, devices: resolved };
}

function modelKey(device: Device): string {
  return `${device.metadata.namespace ?? 'default'}/${device.spec.deviceModelRef.name}`;
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

function resolveDevice(
  entry: Of<'Device'>,
  models: Map<string, Of<'DeviceModel'>>,
  problems: Problem[],
  warnings: Problem[],
): ResolvedDevice | undefined {
  const report = reporter(entry.source, problems);
  const warn = reporter(entry.source, warnings, 'warning');
  const device = entry.object;
  const namespace = device.metadata.namespace ?? 'default';
  const modelEntry = models.get(modelKey(device));
  if (!modelEntry) {
    const name = device.spec.deviceModelRef.name;
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
  const model = modelEntry.object;
  const protocolName = device.spec.protocol.protocolName;
  if (model.spec.protocol !== protocolName)
    report(
      ['spec', 'protocol', 'protocolName'],
      `${JSON.stringify(protocolName)} does not match the protocol of DeviceModel "${model.metadata.name}" (${model.spec.protocol})`,
    );
  const properties: ResolvedProperty[] = [];
  (device.spec.properties ?? []).forEach((property, i) => {
    const resolvedProperty = resolveProperty(property, i, model, protocolName, report, warn);
    if (resolvedProperty) properties.push(resolvedProperty);
  });
  const stateReport = device.spec.stateReport ?? device.status ?? {};
  return {
    id: `${namespace}/${device.metadata.name}`,
    namespace,
    name: device.metadata.name,
    nodeName: device.spec.nodeName ?? '',
    protocol: protocolName,
    config: device.spec.protocol.configData ?? {},
    properties,
    stateReport: {
      reportToCloud: stateReport.reportToCloud ?? false,
      reportCycle: stateReport.reportCycle || DEFAULT_CYCLE_MS,
    },
    device,
    model,
  };
}

function resolveProperty(
  property: DeviceProperty,
  i: number,
  model: DeviceModel,
  protocolName: string,
  report: Report,
  warn: Report,
): ResolvedProperty | undefined {
  const at = (...rest: PathSegment[]): PathSegment[] => ['spec', 'properties', i, ...rest];
  const modelProperties = model.spec.properties ?? [];
  const modelProperty: ModelProperty | undefined = modelProperties.find((p) => p.name === property.name);
  if (!modelProperty) {
    const hint = suggest(
      property.name,
      modelProperties.map((p) => p.name),
    );
    report(
      at('name'),
      `property "${property.name}" is not in DeviceModel "${model.metadata.name}"${hint ? `; did you mean "${hint}"?` : ''}`,
    );
    return undefined;
  }
  const desired = property.desired?.value;
  if (desired !== undefined && desired !== '') {
    if (modelProperty.accessMode === 'ReadOnly')
      report(
        at('desired'),
        `property "${property.name}" is ReadOnly in the model: it cannot have a desired value`,
      );
    else {
      const checked = checkTwinValue(modelProperty.type, desired, modelProperty);
      if (!checked.ok) report(at('desired', 'value'), checked.reason);
    }
  }
  const merged = mergeVisitor(modelProperty, property);
  if (!merged) {
    report(at(), 'visitors is required (the model gives no default visitor for this property)');
    return undefined;
  }
  const { visitor, strategy } = takeReport(
    merged,
    property,
    modelProperty,
    at('visitors', 'configData'),
    report,
  );
  const protocol = getProtocol(protocolName);
  if (protocol) {
    const base = at('visitors', 'configData');
    const violations = validateAgainst(protocol.visitor, visitor, base);
    for (const v of violations) report(v.path, v.message);
    if (violations.length === 0)
      for (const f of protocol.checkVisitor?.(visitor, modelProperty) ?? [])
        report([...base, ...f.path], f.message);
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
  modelProperty: ModelProperty,
  property: DeviceProperty,
): Record<string, unknown> | undefined {
  if (!modelProperty.visitors && !property.visitors) return undefined;
  return { ...modelProperty.visitors?.configData, ...property.visitors?.configData };
}
