import type { Command } from 'commander';
import { DEFAULT_MAX_BYTES, formatProblem, validateFiles } from '../../device-models/index.js';
import type { Output } from './output.js';

export interface ValidateOptions {
  json?: boolean;
  maxBytes?: number;
  protocol?: string[];
}

/** `edgetwin validate`: prints every problem as `file:line:col  path  message`; the exit code says if any. */
export async function runValidate(paths: string[], options: ValidateOptions, out: Output): Promise<number> {
  const result = await validateFiles(paths, {
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
    ...(options.protocol ? { extraProtocols: options.protocol } : {}),
  });
  const ok = result.problems.length === 0;
  if (options.json) {
    out.stdout(
      JSON.stringify(
        {
          ok,
          files: result.files,
          counts: result.counts,
          devices: result.devices.map((d) => d.id),
          problems: result.problems,
        },
        null,
        2,
      ),
    );
    return ok ? 0 : 1;
  }
  for (const problem of result.problems) out.stdout(formatProblem(problem));
  const { DeviceModel, Device, DeviceStatus } = result.counts;
  const objects = `${DeviceModel} DeviceModel(s), ${Device} Device(s)${DeviceStatus ? `, ${DeviceStatus} DeviceStatus(es)` : ''}`;
  if (ok) out.stdout(`ok: ${objects} in ${result.files} file(s)`);
  else out.stderr(`${result.problems.length} problem(s) in ${result.files} file(s) (${objects} read)`);
  return ok ? 0 : 1;
}

export function registerValidate(program: Command, out: Output, setExit: (code: number) => void): void {
  program
    .command('validate')
    .description('check DeviceModel/Device/DeviceStatus YAML or JSON files and directories')
    .argument('<paths...>', 'files or directories (.yaml, .yml, .json)')
    .option('--json', 'print machine-readable results')
    .option('--max-bytes <n>', `refuse files larger than this (default ${DEFAULT_MAX_BYTES})`, Number)
    .option('--protocol <names...>', 'accept these protocol names too (a mapper of your own)')
    .action(async (paths: string[], options: ValidateOptions) =>
      setExit(await runValidate(paths, options, out)),
    );
}
