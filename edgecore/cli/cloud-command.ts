import { CloudCore } from '../../cloudcore/cloudcore.js';
import { createCliLogger } from './log.js';
import type { Output } from './output.js';
import { untilSignal } from './signals.js';

export interface CloudCliOptions {
  kubeconfig?: string;
  listen: string;
  pki: string;
  host: string[];
  statusInterval: number;
  statusTarget: string;
  keepalive: number;
}

/** `host:port`, `[v6]:port` or `:port`; undefined when it is none of these. */
export function parseListen(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) return undefined;
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

/** `edgetwin cloud`: cloudcore, until SIGINT/SIGTERM. */
export async function runCloud(options: CloudCliOptions, out: Output): Promise<number> {
  const listen = parseListen(options.listen);
  if (!listen) {
    out.stderr(`edgetwin cloud: --listen ${options.listen}: expected host:port, e.g. 0.0.0.0:10000`);
    return 1;
  }
  if (options.statusTarget !== 'DeviceStatus' && options.statusTarget !== 'Device') {
    out.stderr(`edgetwin cloud: --status-target ${options.statusTarget}: expected DeviceStatus or Device`);
    return 1;
  }
  const cloud = new CloudCore({
    ...(options.kubeconfig ? { kubeconfig: options.kubeconfig } : {}),
    pkiDir: options.pki,
    ...listen,
    hosts: options.host,
    statusIntervalMs: options.statusInterval,
    statusTarget: options.statusTarget,
    keepaliveMs: options.keepalive * 1000,
    log: createCliLogger(),
  });
  try {
    await cloud.start();
  } catch (error) {
    out.stderr(`edgetwin cloud: ${(error as Error).message}`);
    return 1;
  }
  out.stderr(`cloudcore: edge nodes connect and join at ${cloud.url}`);
  await untilSignal();
  await cloud.stop();
  return 0;
}
