import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { runToken } from '../edgecore/cli/join-command.js';
import { joinCloud } from '../edgecore/join.js';
import { silentLogger } from '../sdk/index.js';
import { connectNode } from '../test/support/hub-connect.js';
import { CloudHub } from './cloudhub.js';
import { LEDGER_FILE } from './join-ledger.js';
import { CloudPki } from './pki.js';

/**
 * Join tokens are spent once, can be bound to a node name, and cannot take a name that has joined unless made
 * with --force; all of it on a real CloudHub (TLS, the join API, the WebSocket), with real `joinCloud` calls.
 */
describe('join tokens: single use, bound to a node, no takeover without --force', () => {
  let dir: string;
  let pkiDir: string;
  let pki: CloudPki;
  let hub: CloudHub;
  const sockets: WebSocket[] = [];

  const noDevices = {
    devicesOf: () => [],
    nodeOf: () => undefined,
    twins: async () => {},
    state: async () => {},
  };

  async function startHub(p: CloudPki): Promise<CloudHub> {
    const started = new CloudHub({
      pki: p,
      log: silentLogger,
      handlers: noDevices,
      host: '127.0.0.1',
      port: 0,
      keepaliveMs: 60_000,
      resendMs: 60_000,
    });
    await started.start();
    return started;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-join-tokens-'));
    pkiDir = join(dir, 'pki');
    pki = await CloudPki.open(pkiDir);
    hub = await startHub(pki);
  });
  afterAll(async () => {
    for (const ws of sockets) ws.terminate();
    await hub.stop();
    await rm(dir, { recursive: true, force: true });
  });

  let attempt = 0;
  /** `edgetwin join` as `node` into a directory of its own; resolves to where its certificates are. */
  async function joinAs(node: string, token: string, cloud = hub.url): Promise<string> {
    const home = join(dir, `${node}-${++attempt}`);
    await joinCloud({
      cloud,
      token,
      nodeName: node,
      dataDir: join(home, 'data'),
      configFile: join(home, 'edge.yaml'),
    });
    return join(home, 'data', 'certs');
  }

  /** Connects to the hub with a joined node's certificate; resolves once the hub said hello (101) or refused. */
  const connect = (certs: string, cloud = hub.url) => connectNode(certs, cloud, sockets);

  /** A ping answered by the hub: the connection is alive, not merely not yet noticed as dead. */
  async function pong(ws: WebSocket): Promise<void> {
    const answered = once(ws, 'pong');
    ws.ping();
    await answered;
  }

  let real: { ws: WebSocket; certs: string };

  it('lets a node join with a token bound to its name, and connect', async () => {
    const certs = await joinAs('gateway-a', await pki.issueToken(600, new Date(), { node: 'gateway-a' }));
    const { ws, status } = await connect(certs);
    expect(status).toBe(101);
    real = { ws, certs };
    expect(hub.nodes).toContain('gateway-a');
    const ledger = join(pkiDir, LEDGER_FILE);
    expect((await stat(ledger)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(ledger, 'utf8')).nodes['gateway-a']).toMatchObject({
      certSha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('refuses a token used a second time (401), even for a name not joined yet', async () => {
    const token = await pki.issueToken(600);
    await joinAs('gateway-u', token);
    await expect(joinAs('gateway-v', token)).rejects.toThrow(
      /refused \/edge\.crt \(401\): token has already been used \(node "gateway-u" joined with it at /,
    );
  });

  it('refuses a token bound to one node for any other name (403), and does not spend it', async () => {
    const token = await pki.issueToken(600, new Date(), { node: 'gateway-b' });
    await expect(joinAs('gateway-c', token)).rejects.toThrow(
      'refused /edge.crt (403): token is bound to node "gateway-b": it cannot join "gateway-c"',
    );
    await expect(joinAs('gateway-b', token)).resolves.toContain('certs');
  });

  it("refuses another token for a joined node's name (409); the real node keeps its connection", async () => {
    const token = await pki.issueToken(600);
    await expect(joinAs('gateway-a', token)).rejects.toThrow(
      'refused /edge.crt (409): node "gateway-a" has already joined (certificate issued ',
    );
    expect(real.ws.readyState).toBe(WebSocket.OPEN);
    await pong(real.ws);
    expect(hub.nodes).toContain('gateway-a');
    // The refused attempt did not spend the token.
    await expect(joinAs('gateway-d', token)).resolves.toContain('certs');
  });

  it('will not even make a token for a joined name without --force', async () => {
    await expect(pki.issueToken(600, new Date(), { node: 'gateway-a' })).rejects.toMatchObject({
      code: 'NODE_ALREADY_JOINED',
    });
    const out = { stdout: [] as string[], stderr: [] as string[] };
    const output = { stdout: (l: string) => out.stdout.push(l), stderr: (l: string) => out.stderr.push(l) };
    expect(await runToken({ pki: pkiDir, ttl: '10m', node: 'gateway-a' }, output)).toBe(1);
    expect(out.stderr.join('\n')).toContain(
      'edgetwin token: node "gateway-a" has already joined (certificate issued ',
    );
    expect(out.stderr.join('\n')).toContain('edgetwin token --node gateway-a --force');
    expect(await runToken({ pki: pkiDir, ttl: '10m', force: true }, output)).toBe(1);
    expect(out.stderr.at(-1)).toContain('--force needs --node <name>');
    expect(out.stdout).toEqual([]);
  });

  it('replaces a node with a --force token: the new certificate connects, the old one is dropped and refused', async () => {
    const out = { stdout: [] as string[], stderr: [] as string[] };
    const output = { stdout: (l: string) => out.stdout.push(l), stderr: (l: string) => out.stderr.push(l) };
    expect(await runToken({ pki: pkiDir, ttl: '10m', node: 'gateway-a', force: true }, output)).toBe(0);
    const closed = once(real.ws, 'close') as Promise<[number, Buffer]>;
    const certs = await joinAs('gateway-a', out.stdout[0]!);
    const [code, reason] = await closed;
    expect([code, reason.toString()]).toEqual([4001, 'node certificate replaced']);
    expect((await connect(real.certs)).status).toBe(401);
    const replacement = await connect(certs);
    expect(replacement.status).toBe(101);
    await pong(replacement.ws);
  });

  it('remembers spent tokens and joined nodes across a cloudcore restart', async () => {
    const token = await pki.issueToken(600);
    await joinAs('gateway-e', token);
    await hub.stop();
    const reopened = await CloudPki.open(pkiDir);
    hub = await startHub(reopened);
    await expect(joinAs('gateway-f', token)).rejects.toThrow(/\(401\): token has already been used/);
    await expect(joinAs('gateway-e', await reopened.issueToken(600))).rejects.toThrow(
      /\(409\): node "gateway-e" has already joined/,
    );
  });
});
