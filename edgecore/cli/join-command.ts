import { CloudPki } from '../../cloudcore/pki.js';
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

/** `edgetwin token`: prints a join token signed by the cloud's CA (created in --pki if there is none yet). */
export async function runToken(options: { pki: string; ttl: string }, out: Output): Promise<number> {
  const ttl = parseDuration(options.ttl);
  if (ttl === undefined) {
    out.stderr(`edgetwin token: --ttl ${options.ttl}: expected a duration like 24h, 30m or 3600s`);
    return 1;
  }
  const pki = await CloudPki.open(options.pki);
  out.stdout(await pki.issueToken(ttl));
  out.stderr(`valid until ${new Date(Date.now() + ttl * 1000).toISOString()}`);
  return 0;
}

export interface JoinCliOptions {
  cloud: string;
  token: string;
  nodeName: string;
  data: string;
  config: string;
}

/** `edgetwin join`: gets this node a certificate from cloudcore and points the edge config at the cloud. */
export async function runJoin(options: JoinCliOptions, out: Output): Promise<number> {
  try {
    const { certFile, configFile } = await joinCloud({
      cloud: options.cloud,
      token: options.token,
      nodeName: options.nodeName,
      dataDir: options.data,
      configFile: options.config,
    });
    out.stdout(`joined ${options.cloud} as ${options.nodeName}`);
    out.stdout(`node certificate: ${certFile}`);
    out.stdout(`edge config: ${configFile} (start with: edgetwin edge --config ${configFile})`);
    return 0;
  } catch (error) {
    out.stderr(`edgetwin join: ${(error as Error).message}`);
    return 1;
  }
}
