import { access, constants } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  compareProblems,
  formatPath,
  formatProblem,
  validateFiles,
} from '../device-models/validate/index.js';
import { builtInProtocols } from '../mappers/builtin.js';
import { loadPlugins } from '../mappers/plugins.js';
import type { EdgeConfig } from './config.js';
import { type ConfigProblem, formatConfigProblem, readEdgeConfig } from './config-source.js';

export interface EdgeCheck {
  ok: boolean;
  /** Every problem, one line each: the config's first, then the plug-ins', then the devices' (file:line:col). */
  problems: string[];
  /** Device warnings (the devices run): printed, not failed on. */
  warnings: string[];
  /** One line: what was checked, or how many problems. */
  summary: string;
}

/**
 * `edgetwin edge --check`: edge.yaml with the environment and `--set` applied, the plug-ins of
 * mappers.plugins, every Device and DeviceModel in devices.dirs against those protocols (as edgecore reads
 * them), and, when joined, the certificate files. Opens no database, starts no broker, binds no port.
 */
export async function checkEdge(options: {
  file?: string;
  env?: NodeJS.ProcessEnv;
  set?: readonly string[];
}): Promise<EdgeCheck> {
  const read = await readEdgeConfig(options);
  const configProblems: ConfigProblem[] = [...read.problems];
  const at = (path: (string | number)[], message: string): ConfigProblem => ({
    source: options.file ?? 'defaults',
    ...(options.file && read.locate ? read.locate(path) : {}),
    path: formatPath(path),
    message,
  });
  // With a bad config the devices are still checked, by what it names where that is usable.
  const merged = (read.merged ?? {}) as Partial<EdgeConfig>;
  const strings = (value: unknown): string[] =>
    Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  const dirs = strings(merged.devices?.dirs);
  const plugins = strings(merged.mappers?.plugins);

  const { protocols, errors } = await loadPlugins(plugins, {
    from: options.file ? dirname(resolve(options.file)) : process.cwd(),
  });
  for (const error of errors)
    configProblems.push(at(['mappers', 'plugins', plugins.indexOf(error.plugin)], error.message));

  if (read.config?.cloud.enabled)
    for (const key of ['caFile', 'certFile', 'keyFile'] as const) {
      const file = read.config.cloud[key];
      await access(file, constants.R_OK).catch((error: NodeJS.ErrnoException) =>
        configProblems.push(at(['cloud', key], `${file}: cannot read (${error.code}); run edgetwin join?`)),
      );
    }

  const devices = await validateFiles(dirs, { protocols: [...builtInProtocols, ...protocols] });
  const problems = [
    ...configProblems.map(formatConfigProblem),
    ...devices.problems.sort(compareProblems).map(formatProblem),
  ];
  const warnings = devices.warnings.sort(compareProblems).map(formatProblem);
  const { DeviceModel, Device } = devices.counts;
  const node = read.config?.nodeName;
  const here = node ? devices.devices.filter((d) => !d.nodeName || d.nodeName === node).length : 0;
  const warned = warnings.length > 0 ? `, ${warnings.length} warning(s)` : '';
  const summary =
    problems.length === 0
      ? `ok: ${options.file ?? 'default config'} (node ${node}${read.overrides.length > 0 ? `, ${read.overrides.length} field(s) from the environment and flags` : ''}); ` +
        `${DeviceModel} DeviceModel(s), ${Device} Device(s) (${here} for this node) in ${devices.files} file(s) ` +
        `of ${dirs.join(', ') || 'no devices dir'}${plugins.length > 0 ? `; plug-ins: ${protocols.map((p) => p.protocol).join(', ')}` : ''}${warned}`
      : `${problems.length} problem(s): ${configProblems.length} in the config, ${devices.problems.length} in the device files${warned}`;
  return { ok: problems.length === 0, problems, warnings, summary };
}
