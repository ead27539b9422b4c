import { hostname } from 'node:os';
import type { Command } from 'commander';
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

interface JoinCliOptions {
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

export function registerToken(program: Command, out: Output, setExit: (code: number) => void): void {
  program
    .command('token')
    .description('print a token with which an edge node joins this cloud (edgetwin join)')
    .option('--pki <dir>', "the cloud's CA and certificates", './cloud-data/pki')
    .option('--ttl <duration>', 'how long the token is valid: 24h, 30m, 3600s', '24h')
    .action(async (options: { pki: string; ttl: string }) => setExit(await runToken(options, out)));
}

export function registerJoin(program: Command, out: Output, setExit: (code: number) => void): void {
  program
    .command('join')
    .description("join cloudcore: get this node's certificate and write the cloud section of edge.yaml")
    .requiredOption('--cloud <host:port>', "cloudcore's CloudHub, e.g. 192.0.2.10:10000")
    .requiredOption('--token <token>', 'from edgetwin token on the cloud')
    .option('--node-name <name>', 'this node', hostname().toLowerCase())
    .option('--data <dir>', 'data directory (certificates go to <dir>/certs)', './data')
    .option('--config <file>', 'edge config to write (other settings in it are kept)', './edge.yaml')
    .action(async (options: JoinCliOptions) => setExit(await runJoin(options, out)));
}
