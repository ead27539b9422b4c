import type { Command } from 'commander';
import type { MapperNewOptions } from './mapper-new.js';
import type { Output } from './output.js';

/**
 * Adds `edgetwin mapper new <name>` under the `mapper` command. The scaffold's code is imported only when it runs.
 * `mapper <protocol>` requires --broker and --devices, and commander checks a parent's required options for its
 * subcommands too: they are not required when a subcommand runs (one parse per process).
 */
export function addMapperNewCommand(mapper: Command, out: Output, exit: (code: number) => void): void {
  mapper.hook('preSubcommand', (parent) => {
    for (const option of parent.options) option.mandatory = false;
  });
  mapper
    .command('new')
    .description(
      'scaffold a mapper for a new protocol: schemas, driver and simulator stubs, a sample device, a conformance test',
    )
    .argument('<name>', 'the protocol name: lowercase letters, digits and dashes, e.g. acme-link')
    .option(
      '--dir <dir>',
      'where to write it (default: mappers/<name> in an edgetwin checkout, else ./edgetwin-mapper-<name>, an npm project)',
    )
    .option('--force', 'overwrite files that exist')
    .action(async (name: string, options: MapperNewOptions) => {
      exit(await (await import('./mapper-new.js')).runMapperNew(name, options, out));
    });
}
