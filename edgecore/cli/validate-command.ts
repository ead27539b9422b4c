import { compareProblems, formatProblem, validateFiles } from '../../device-models/internal.js';
import type { Output } from './output.js';
import { protocolsWith } from './protocols.js';

export interface ValidateOptions {
  json?: boolean;
  maxBytes?: number;
  protocol?: string[];
  /** Protocols from other packages (npm names or paths): their schemas check their devices. */
  plugin?: string[];
}

/**
 * `edgetwin validate`: prints every problem as `file:line:col  path  message` (a warning as
 * `file:line:col  warning: path  message`); exits 1 when there is an error, 0 when there are only warnings.
 */
export async function runValidate(paths: string[], options: ValidateOptions, out: Output): Promise<number> {
  const protocols = await protocolsWith(options.plugin, 'validate', out);
  if (!protocols) return 2;
  const result = await validateFiles(paths, {
    protocols,
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
    ...(options.protocol ? { extraProtocols: options.protocol } : {}),
  });
  const ok = result.problems.length === 0;
  const all = [...result.problems, ...result.warnings].sort(compareProblems);
  if (options.json) {
    out.stdout(
      JSON.stringify(
        {
          ok,
          files: result.files,
          counts: result.counts,
          devices: result.devices.map((d) => d.id),
          errors: result.problems.length,
          warnings: result.warnings.length,
          problems: all,
        },
        null,
        2,
      ),
    );
    return ok ? 0 : 1;
  }
  for (const problem of all) out.stdout(formatProblem(problem));
  const { DeviceModel, Device, DeviceStatus } = result.counts;
  const objects = `${DeviceModel} DeviceModel(s), ${Device} Device(s)${DeviceStatus ? `, ${DeviceStatus} DeviceStatus(es)` : ''}`;
  const warnings = result.warnings.length > 0 ? `, ${result.warnings.length} warning(s)` : '';
  if (ok) out.stdout(`ok: ${objects} in ${result.files} file(s)${warnings}`);
  else
    out.stderr(
      `${result.problems.length} problem(s) in ${result.files} file(s) (${objects} read)${warnings}`,
    );
  return ok ? 0 : 1;
}
