import type { ProtocolMapper } from '../sdk/index.js';

/**
 * The built-in mappers, each loaded only when a device needs it (node-opcua alone costs ~70 MB, and noble
 * throws on import without Bluetooth).
 */
const loaders: Record<string, () => Promise<ProtocolMapper>> = {
  modbus: async () => (await import('./modbus/index.js')).modbusMapper as unknown as ProtocolMapper,
  ble: async () => (await import('./ble/index.js')).bleMapper as unknown as ProtocolMapper,
  serial: async () => (await import('./serial/index.js')).serialMapper as unknown as ProtocolMapper,
  opcua: async () => (await import('./opcua/index.js')).opcuaMapper as unknown as ProtocolMapper,
};

export function builtInMapperNames(): string[] {
  return Object.keys(loaders);
}

/** The built-in mapper of a protocol, or undefined: any other name (even `constructor`) waits for a mapper of your own. */
export async function loadBuiltInMapper(protocol: string): Promise<ProtocolMapper | undefined> {
  return Object.hasOwn(loaders, protocol) ? loaders[protocol]!() : undefined;
}
