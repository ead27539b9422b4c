import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { joinApi } from '../../cloudcore/join-api.js';
import { CloudPki } from '../../cloudcore/pki.js';

/** The built CLI, run as a user runs it (`npm test` builds dist/ first). */
const bin = new URL('../../dist/edgecore/cli/main.js', import.meta.url).pathname;
const run = promisify(execFile);

async function edgetwin(
  cwd: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('edgetwin token / edgetwin join', () => {
  let dir: string;
  let server: Server;
  let cloud: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-join-cli-'));
    // The token command creates the PKI; the cloud side here is the join API on that PKI.
    const token = await edgetwin(dir, 'token', '--pki', 'pki', '--ttl', '10m');
    expect(token.code).toBe(0);
    const pki = await CloudPki.open(join(dir, 'pki'));
    const api = joinApi(pki);
    server = createServer({ cert: pki.serverCertPem, key: pki.serverKeyPem }, (req, res) => {
      if (!api(req, res)) res.writeHead(404).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cloud = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('joins with a token printed by edgetwin token', async () => {
    const token = await edgetwin(dir, 'token', '--pki', 'pki', '--ttl', '10m');
    expect(token).toMatchObject({ code: 0 });
    const result = await edgetwin(
      dir,
      'join',
      '--cloud',
      cloud,
      '--token',
      token.stdout.trim(),
      '--node-name',
      'gw-1',
    );
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toContain(`node certificate: ${join(dir, 'data/certs/node.crt')}`);
    const config = parse(await readFile(join(dir, 'edge.yaml'), 'utf8'));
    expect(config).toMatchObject({ nodeName: 'gw-1', cloud: { enabled: true, server: cloud } });
  });

  it('exits 1 with the reason on a bad token or a bad --ttl', async () => {
    const result = await edgetwin(dir, 'join', '--cloud', cloud, '--token', 'abc', '--node-name', 'gw-2');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('edgetwin join: the token is malformed');
    const ttl = await edgetwin(dir, 'token', '--pki', 'pki', '--ttl', 'soon');
    expect(ttl.code).toBe(1);
    expect(ttl.stderr).toContain('--ttl soon: expected a duration like 24h, 30m or 3600s');
  });
});
