import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerCloud } from './cloud-command.js';
import { registerCrds } from './crds-command.js';
import { registerEdge } from './edge-command.js';
import { registerJoin, registerToken } from './join-command.js';
import { registerMapper } from './mapper-command.js';
import type { Output } from './output.js';
import { registerSim } from './sim-command.js';
import { registerValidate } from './validate-command.js';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** The `edgetwin` command line; `run` resolves to the exit code. */
export function createProgram(out: Output): { program: Command; run(argv: string[]): Promise<number> } {
  let exitCode = 0;
  const setExit = (code: number) => {
    exitCode = code;
  };
  const program = new Command('edgetwin')
    .description('device twins for edge gateways, KubeEdge-compatible')
    .version(version)
    .showHelpAfterError();
  registerValidate(program, out, setExit);
  registerCrds(program, out, setExit);
  registerMapper(program, out, setExit);
  registerSim(program, out, setExit);
  registerEdge(program, out, setExit);
  registerToken(program, out, setExit);
  registerJoin(program, out, setExit);
  registerCloud(program, out, setExit);
  return {
    program,
    async run(argv: string[]) {
      await program.parseAsync(argv, { from: 'user' });
      return exitCode;
    },
  };
}
