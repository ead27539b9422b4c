import { dirname, resolve } from 'node:path';
import { isSecretField } from '../config-env.js';
import { formatConfigProblem, readEdgeConfig } from '../config-source.js';
import { startDemo } from '../demo.js';
import { EdgeCore } from '../edgecore.js';
import { createCliLogger } from './log.js';
import type { Output } from './output.js';
import { untilSignal } from './signals.js';

export interface EdgeOptions {
  config?: string;
  /** `--set field=value` (repeatable): over edge.yaml and the environment. */
  set?: string[];
  /** Check the config and the devices, start nothing. */
  check?: boolean;
  /** Print edge.yaml with every field at its default and described. */
  printConfigReference?: boolean;
}

/**
 * `edgetwin edge --config edge.yaml`: the edge process, until SIGINT/SIGTERM. The config is the defaults, then
 * edge.yaml, then `EDGETWIN_…` variables, then `--set`; a problem in any of them stops it before anything starts.
 */
export async function runEdge(options: EdgeOptions, out: Output, env = process.env): Promise<number> {
  if (options.printConfigReference) {
    const { configReference } = await import('../config-doc.js');
    out.stdout(configReference().trimEnd());
    return 0;
  }
  const sources = { ...(options.config ? { file: options.config } : {}), env, set: options.set ?? [] };
  if (options.check) {
    const { checkEdge } = await import('../edge-check.js');
    const check = await checkEdge(sources);
    for (const line of [...check.problems, ...check.warnings]) out.stdout(line);
    if (check.ok) out.stdout(check.summary);
    else out.stderr(check.summary);
    return check.ok ? 0 : 1;
  }
  const read = await readEdgeConfig(sources);
  if (!read.config) {
    for (const problem of read.problems) out.stderr(formatConfigProblem(problem));
    out.stderr(
      `edgetwin edge: ${read.problems.length} problem(s) in the config; nothing started (--check checks the devices too)`,
    );
    return 1;
  }
  const { config } = read;
  const log = createCliLogger();
  if (read.overrides.length > 0)
    log.info(
      {
        fields: Object.fromEntries(
          read.overrides.map((o) => [
            o.path.join('.'),
            `${o.source}=${isSecretField(o.path) ? '<redacted>' : JSON.stringify(o.value)}`,
          ]),
        ),
      },
      'config fields set by the environment and flags',
    );
  // mappers.plugins are resolved from the config file's directory (its node_modules), else the current one.
  const configDir = options.config ? dirname(resolve(options.config)) : process.cwd();
  const edge = new EdgeCore({ config, configDir, log, ownsProcess: true });
  await edge.start();
  out.stderr(`edgecore ${config.nodeName}: broker ${edge.brokerUrl}, http ${edge.httpUrl}`);
  await untilSignal();
  await edge.stop();
  return 0;
}

/** `edgetwin demo` (what `npm start` runs). */
export async function runDemo(
  options: { data?: string; brokerPort?: number; httpPort?: number; anonymous?: boolean },
  out: Output,
): Promise<number> {
  const demo = await startDemo({
    ...(options.anonymous ? { anonymous: true } : {}),
    ...(options.data ? { dataDir: options.data } : {}),
    ...(options.brokerPort !== undefined ? { brokerPort: options.brokerPort } : {}),
    ...(options.httpPort !== undefined ? { httpPort: options.httpPort } : {}),
    log: createCliLogger(process.env.LOG_LEVEL ?? 'warn'),
    print: (line) => out.stdout(line),
  }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EADDRINUSE') throw error;
    out.stderr(
      `edgetwin demo: ${error.message} (another demo running?); choose others with --broker-port and --http-port`,
    );
    return undefined;
  });
  if (!demo) return 1;
  out.stdout('Ctrl-C stops everything.');
  await untilSignal();
  await demo.stop();
  out.stdout('stopped.');
  return 0;
}
