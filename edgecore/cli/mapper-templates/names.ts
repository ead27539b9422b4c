/**
 * The names a scaffolded mapper is written with, all derived from its protocol name: `acme-link` gives
 * `acmeLinkProtocol`, `AcmeLinkDriver`, `AcmeLinkConfig` and the package `edgetwin-mapper-acme-link`.
 */
export interface MapperNames {
  /** The protocol name, as devices write it in `spec.protocol.protocolName`. */
  protocol: string;
  /** camelCase, for values: `${camel}Protocol`. */
  camel: string;
  /** PascalCase, for classes and types: `${pascal}Driver`, `${pascal}Config`. */
  pascal: string;
  /** The npm package of a standalone mapper. */
  packageName: string;
}

/** Names edgetwin already uses: its built-in protocols (and `http`, on its way), and `mapper new` itself. */
export const RESERVED_NAMES: Readonly<Record<string, string>> = {
  modbus: 'a built-in protocol',
  opcua: 'a built-in protocol',
  ble: 'a built-in protocol',
  serial: 'a built-in protocol',
  http: 'a built-in protocol',
  new: 'the name of this command (`edgetwin mapper new`)',
};

const NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const MAX_LENGTH = 50;

/** Why a protocol name cannot be scaffolded, or undefined when it can. `builtIn`: the protocols shipped today. */
export function nameProblem(name: string, builtIn: readonly string[] = []): string | undefined {
  if (!NAME.test(name) || name.length > MAX_LENGTH)
    return `"${name}" is not a protocol name for a mapper: use lowercase letters, digits and single dashes, starting with a letter and not ending with a dash (at most ${MAX_LENGTH} characters), e.g. acme-link`;
  const reserved = RESERVED_NAMES[name] ?? (builtIn.includes(name) ? 'a built-in protocol' : undefined);
  if (reserved) return `"${name}" is ${reserved}: choose another name for your protocol`;
  return undefined;
}

export function mapperNames(protocol: string): MapperNames {
  const words = protocol.split('-');
  const pascal = words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
  return {
    protocol,
    camel: pascal.charAt(0).toLowerCase() + pascal.slice(1),
    pascal,
    packageName: `edgetwin-mapper-${protocol}`,
  };
}
