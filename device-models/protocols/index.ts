import { ble } from './ble.js';
import { modbus } from './modbus.js';
import { opcua } from './opcua.js';
import { serial } from './serial.js';
import { asDefinition, type ProtocolDefinition, type ProtocolSchemas } from './types.js';

export type { Finding, ProtocolDefinition, ProtocolSchemas } from './types.js';
export { asDefinition, defineProtocol } from './types.js';

/**
 * The schemas of the protocols edgetwin ships, for validation called without a protocol list (a library user
 * of edgetwin/device-models). edgecore and the CLI pass their own list: `builtInProtocols` from mappers/builtin.ts
 * and the plug-ins; a test checks that list's schemas are these.
 */
export const BUILT_IN_SCHEMAS: readonly ProtocolDefinition[] = [
  modbus,
  opcua,
  ble,
  serial,
] as ProtocolDefinition[];

/** Protocols of your own made known at run time (`registerProtocol`), on top of any list. */
const registered = new Map<string, ProtocolDefinition>();

/**
 * Makes a protocol's schemas known to validation everywhere in this process: a registration object (or its
 * schema half; the old `{name, config, visitor}` shape is still taken). A registration that can load a driver
 * is also run by edgecore's mapper host. Registering a name again replaces it.
 */
export function registerProtocol(protocol: ProtocolDefinition | ProtocolSchemas): void {
  const definition = asDefinition(protocol);
  registered.set(definition.protocol, definition);
}

/** The protocols registered with `registerProtocol`. */
export function registeredProtocols(): ProtocolDefinition[] {
  return [...registered.values()];
}

/** Looks protocols up by name: a list given (default: the built-in schemas), then those registered. */
export interface ProtocolLookup {
  get(name: string): ProtocolDefinition | undefined;
  names(): string[];
}

export function protocolLookup(protocols: readonly ProtocolDefinition[] = BUILT_IN_SCHEMAS): ProtocolLookup {
  const byName = new Map(protocols.map((p) => [p.protocol, p]));
  return {
    get: (name) => byName.get(name) ?? registered.get(name),
    names: () => [...new Set([...byName.keys(), ...registered.keys()])],
  };
}

/** A protocol's schemas, from the built-in ones and those registered. */
export function getProtocol(name: string): ProtocolDefinition | undefined {
  return protocolLookup().get(name);
}

export function protocolNames(): string[] {
  return protocolLookup().names();
}
