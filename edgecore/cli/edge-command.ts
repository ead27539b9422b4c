import { loadEdgeConfig } from '../config.js';
import { startDemo } from '../demo.js';
import { EdgeCore } from '../edgecore.js';
import { createCliLogger } from './log.js';
import type { Output } from './output.js';
import { untilSignal } from './signals.js';

/** `edgetwin edge --config edge.yaml`: the edge process, until SIGINT/SIGTERM. */
export async function runEdge(options: { config?: string }, out: Output): Promise<number> {
  const config = await loadEdgeConfig(options.config);
  const edge = new EdgeCore({ config, log: createCliLogger() });
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
