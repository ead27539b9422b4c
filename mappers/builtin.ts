import type { ProtocolRegistration } from '../sdk/registration.js';
import { bleProtocol } from './ble/protocol.js';
import { httpProtocol } from './http/protocol.js';
import { modbusProtocol } from './modbus/protocol.js';
import { opcuaProtocol } from './opcua/protocol.js';
import { serialProtocol } from './serial/protocol.js';

/**
 * The protocols edgetwin ships: validation, the mapper host, `edgetwin sim`/`mapper` and the CLI's lists all
 * read this list (and the plug-ins). Importing it is cheap: each driver is imported when a device uses it.
 */
export const builtInProtocols: readonly ProtocolRegistration[] = [
  modbusProtocol,
  opcuaProtocol,
  bleProtocol,
  serialProtocol,
  httpProtocol,
] as ProtocolRegistration[];
