import { builtInProtocols } from '../../mappers/builtin.js';
import { loadPlugins } from '../../mappers/plugins.js';
import type { ProtocolRegistration } from '../../sdk/index.js';
import type { Output } from './output.js';

/**
 * The built-in protocols and those of `--plugin` (package names or paths, resolved from the current
 * directory). A plug-in that cannot be used is an error of the command: it is printed and undefined returned.
 */
export async function protocolsWith(
  plugins: readonly string[] | undefined,
  command: string,
  out: Output,
): Promise<readonly ProtocolRegistration[] | undefined> {
  if (!plugins?.length) return builtInProtocols;
  const { protocols, errors } = await loadPlugins(plugins);
  for (const error of errors) out.stderr(`edgetwin ${command}: ${error.message}`);
  return errors.length > 0 ? undefined : [...builtInProtocols, ...protocols];
}
