import { registeredProtocols } from '../device-models/protocols/index.js';
import type { MapperLoader, ProtocolMapper } from '../sdk/index.js';
import { isRegistration, loadProtocolMapper, type ProtocolRegistration } from '../sdk/registration.js';
import { builtInProtocols } from './builtin.js';

export { builtInProtocols } from './builtin.js';

/**
 * The mapper host's loader over registration objects (default: the built-in protocols), then those given to
 * `registerProtocol` that can load a driver. Each driver is imported when the first device of its protocol
 * starts; any other name (even `constructor`) waits for a mapper of your own.
 */
export function registrationLoader(
  protocols: readonly ProtocolRegistration[] = builtInProtocols,
): MapperLoader {
  return async (protocol) => {
    const registration =
      protocols.find((p) => p.protocol === protocol) ??
      registeredProtocols().find((p) => p.protocol === protocol && isRegistration(p));
    return registration ? loadProtocolMapper(registration as ProtocolRegistration) : undefined;
  };
}

/** The built-in mapper of a protocol, or undefined. */
export async function loadBuiltInMapper(protocol: string): Promise<ProtocolMapper | undefined> {
  const registration = builtInProtocols.find((p) => p.protocol === protocol);
  return registration ? loadProtocolMapper(registration) : undefined;
}

/** The names of a list of protocols (default: the built-in ones), for help texts and messages. */
export function protocolNamesOf(protocols: readonly ProtocolRegistration[] = builtInProtocols): string[] {
  return protocols.map((p) => p.protocol);
}
