import { CloudPki } from '../../cloudcore/pki.js';
import { EdgetwinError } from '../../device-models/errors.js';
import { joinCloud } from '../join.js';
import type { Output } from './output.js';

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `24h`, `30m`, `3600s`, `7d` (or plain seconds) in seconds; undefined if it is none of these. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)([smhd]?)$/.exec(text.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] || 's']!;
  return seconds > 0 ? seconds : undefined;
}

export interface TokenCliOptions {
  pki: string;
  ttl: string;
  node?: string;
  force?: boolean;
}

/**
 * `edgetwin token`: prints a single-use join token signed by the cloud's CA (created in --pki if there is none
 * yet); with --node, for that node name only; a name that has joined already needs --force.
 */
export async function runToken(options: TokenCliOptions, out: Output): Promise<number> {
  const ttl = parseDuration(options.ttl);
  if (ttl === undefined) {
    out.stderr(`edgetwin token: --ttl ${options.ttl}: expected a duration like 24h, 30m or 3600s`);
    return 1;
  }
  if (options.force && options.node === undefined) {
    out.stderr(
      'edgetwin token: --force needs --node <name>: the node whose certificate the token may replace',
    );
    return 1;
  }
  const pki = await CloudPki.open(options.pki);
  let token: string;
  try {
    token = await pki.issueToken(ttl, new Date(), {
      ...(options.node !== undefined ? { node: options.node } : {}),
      force: options.force ?? false,
    });
  } catch (error) {
    if (!(error instanceof EdgetwinError)) throw error;
    out.stderr(`edgetwin token: ${error.message}`);
    return 1;
  }
  out.stdout(token);
  const scope = options.node === undefined ? 'any node name not joined yet' : `node ${options.node} only`;
  const replaces = options.force ? `; replaces the certificate ${options.node} holds` : '';
  out.stderr(`one join, ${scope}${replaces}; valid until ${new Date(Date.now() + ttl * 1000).toISOString()}`);
  return 0;
}

export interface JoinCliOptions {
  cloud: string;
  token: string;
  /** Other cloudcore replicas (`--server`, repeatable). */
  server?: string[];
  nodeName?: string;
  data?: string;
  config: string;
}

/** `edgetwin join`: gets this node a certificate from cloudcore and points the edge config at the cloud. */
export async function runJoin(options: JoinCliOptions, out: Output): Promise<number> {
  try {
    const { certFile, configFile, nodeName, dataDir } = await joinCloud({
      cloud: options.cloud,
      token: options.token,
      ...(options.server?.length ? { servers: [options.cloud, ...options.server] } : {}),
      ...(options.nodeName !== undefined ? { nodeName: options.nodeName } : {}),
      ...(options.data !== undefined ? { dataDir: options.data } : {}),
      configFile: options.config,
    });
    out.stdout(`joined ${options.cloud} as ${nodeName}`);
    out.stdout(`node certificate: ${certFile}`);
    out.stdout(`data directory: ${dataDir} (twins already there are kept and synced once connected)`);
    out.stdout(`edge config: ${configFile} (start with: edgetwin edge --config ${configFile})`);
    return 0;
  } catch (error) {
    out.stderr(`edgetwin join: ${(error as Error).message}`);
    return 1;
  }
}
