import { type ModbusConfig, type ModbusVisitor, modbusMode } from '../protocols/modbus.js';
import { planModbusReads } from '../protocols/modbus-plan.js';
import { rtuReadMillis } from '../protocols/modbus-rtu-timing.js';
import type { ResolvedDevice } from '../resolved.js';
import { reporter, where } from './check-object.js';
import type { PathSegment, Problem } from './problems.js';
import type { SourceObject } from './source.js';

/**
 * Checks that span the devices wired to one physical line: an RS-485 bus (`serialName`, Modbus RTU and the
 * serial protocol alike) or a Modbus TCP endpoint. Lines are told apart per edge node: /dev/ttyUSB0 on two
 * nodes is two lines.
 */

/** A resolved device and the document it came from. */
export interface Placed {
  source: SourceObject;
  device: ResolvedDevice;
}

const SETTINGS = ['baudRate', 'dataBits', 'stopBits', 'parity'] as const;
type Setting = (typeof SETTINGS)[number];

/** What the Modbus and serial drivers use when a setting is not given. */
const DEFAULTS: Record<Setting, number | string> = {
  baudRate: 9600,
  dataBits: 8,
  stopBits: 1,
  parity: 'none',
};
const PARITY_LETTERS: Record<string, string> = { N: 'none', E: 'even', O: 'odd' };

const CONFIG: PathSegment[] = ['spec', 'protocol', 'configData'];

interface LineConfig {
  serialName?: string;
  ip?: string;
  port?: number;
  slaveID?: number;
  baudRate?: number;
  dataBits?: number;
  stopBits?: number;
  parity?: string;
}

const configOf = (d: ResolvedDevice) => d.config as LineConfig;
const label = (d: ResolvedDevice) => (d.namespace === 'default' ? d.name : d.id);
const isModbusRtu = (d: ResolvedDevice) =>
  d.protocol === 'modbus' && modbusMode(d.config as ModbusConfig) === 'RTU';

/** The serial line a device sits on, if any. */
function serialName(d: ResolvedDevice): string | undefined {
  if (isModbusRtu(d) || d.protocol === 'serial') return configOf(d).serialName;
  return undefined;
}

function setting(d: ResolvedDevice, name: Setting): { value: number | string; given: boolean } {
  const given = configOf(d)[name];
  if (given === undefined) return { value: DEFAULTS[name], given: false };
  return { value: name === 'parity' ? (PARITY_LETTERS[given] ?? given) : given, given: true };
}

function groupBy(devices: readonly Placed[], key: (d: ResolvedDevice) => string | undefined) {
  const groups = new Map<string, Placed[]>();
  for (const placed of devices) {
    const k = key(placed.device);
    if (k === undefined) continue;
    const group = groups.get(k) ?? [];
    group.push(placed);
    groups.set(k, group);
  }
  return groups;
}

/**
 * Errors: settings that differ between devices of one serial line, two devices with one slaveID on a line.
 * Warnings: a Modbus RTU line asked for more reads than its baud rate can carry. Returns the ids of the
 * devices given an error.
 */
export function checkLines(devices: readonly Placed[], errors: Problem[], warnings: Problem[]): Set<string> {
  const failed = new Set<string>();
  const serialLines = groupBy(devices, (d) => {
    const name = serialName(d);
    return name === undefined ? undefined : `${d.nodeName}\0${name}`;
  });
  for (const line of serialLines.values()) {
    const [first, ...rest] = line;
    for (const other of rest) if (checkSettings(first!, other, errors)) failed.add(other.device.id);
    checkLoad(line, warnings);
  }
  const units = groupBy(devices, (d) => {
    if (d.protocol !== 'modbus') return undefined;
    const config = configOf(d);
    const at = isModbusRtu(d) ? config.serialName : `${config.ip}:${config.port ?? 502}`;
    return `${d.nodeName}\0${at}\0${config.slaveID ?? 1}`;
  });
  for (const [first, ...rest] of units.values())
    for (const other of rest) {
      const { device } = other;
      const config = configOf(device);
      const at = isModbusRtu(device) ? config.serialName : `${config.ip}:${config.port ?? 502}`;
      reporter(other.source, errors)(
        [...CONFIG, 'slaveID'],
        `${config.slaveID ?? 1}${config.slaveID === undefined ? ' (the default)' : ''} is also the slaveID of ${label(first!.device)} on ${at} (${where(first!.source, [...CONFIG, 'slaveID'])}): two devices cannot answer to one address`,
      );
      failed.add(device.id);
    }
  return failed;
}

/** Reports each setting of `other` that differs from the line's first device; true if any did. */
function checkSettings(first: Placed, other: Placed, errors: Problem[]): boolean {
  let conflict = false;
  for (const name of SETTINGS) {
    const theirs = setting(first.device, name);
    const ours = setting(other.device, name);
    if (theirs.value === ours.value) continue;
    conflict = true;
    const byDefault = (s: { given: boolean }) => (s.given ? '' : ' (the default)');
    reporter(other.source, errors)(
      [...CONFIG, name],
      `${ours.value}${byDefault(ours)} conflicts with ${theirs.value}${byDefault(theirs)} for ${serialName(first.device)} ${theirs.given ? 'set' : 'used'} by ${label(first.device)} (${where(first.source, [...CONFIG, name])}): devices on one line must agree on ${name}`,
    );
  }
  return conflict;
}

/**
 * Warns on the collectCycles of a Modbus RTU line that asks for more than the line can carry: the time its
 * reads take (planned per device and cycle as the driver coalesces them) per second, summed over the line,
 * above 100 %. The warning goes to each property whose collectCycle is shorter than one pass over the line.
 */
function checkLoad(line: readonly Placed[], warnings: Problem[]): void {
  const modbus = line.filter((p) => isModbusRtu(p.device));
  if (modbus.length === 0) return;
  const baudRate = setting(modbus[0]!.device, 'baudRate').value as number;
  let passMs = 0;
  let load = 0;
  for (const { device } of modbus) {
    const byCycle = new Map<number, ResolvedDevice['properties']>();
    for (const p of device.properties)
      byCycle.set(p.collectCycle, [...(byCycle.get(p.collectCycle) ?? []), p]);
    for (const [cycle, properties] of byCycle) {
      const points = properties.map((p) => ({ visitor: p.visitor as ModbusVisitor, property: p.model }));
      const ms = planModbusReads(points).reduce((sum, r) => sum + rtuReadMillis(r, baudRate), 0);
      passMs += ms;
      load += ms / cycle;
    }
  }
  if (load <= 1) return;
  const devices = `${modbus.length} device${modbus.length === 1 ? '' : 's'}`;
  const pass = passMs >= 1000 ? `${(passMs / 1000).toFixed(1)} s` : `${Math.round(passMs)} ms`;
  for (const { source, device } of modbus)
    for (const property of device.properties) {
      if (property.collectCycle >= passMs) continue;
      const i = (device.device.spec.properties ?? []).findIndex((p) => p.name === property.name);
      reporter(
        source,
        warnings,
        'warning',
      )(
        ['spec', 'properties', i, 'collectCycle'],
        `${devices} on ${serialName(device)} at ${baudRate} baud need ~${pass} per cycle; a ${property.collectCycle} ms collectCycle cannot be served (the line is ${Math.round(load * 100)} % loaded)`,
      );
    }
}
