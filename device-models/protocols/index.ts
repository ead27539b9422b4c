import { ble } from './ble.js';
import { modbus } from './modbus.js';
import { opcua } from './opcua.js';
import { serial } from './serial.js';
import type { ProtocolSchemas } from './types.js';

export type { Finding, ProtocolSchemas } from './types.js';
export { defineProtocol } from './types.js';

const registry = new Map<string, ProtocolSchemas>();

/** Makes a protocol's schemas known to validation (the built-in four are registered already). */
export function registerProtocol(protocol: ProtocolSchemas): void {
  registry.set(protocol.name, protocol);
}

export function getProtocol(name: string): ProtocolSchemas | undefined {
  return registry.get(name);
}

export function protocolNames(): string[] {
  return [...registry.keys()];
}

for (const protocol of [modbus, opcua, ble, serial] as ProtocolSchemas[]) registerProtocol(protocol);
