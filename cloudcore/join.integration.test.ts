import { once } from 'node:events';
import { access, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadEdgeConfig } from '../edgecore/config.js';
import { joinCloud } from '../edgecore/join.js';
import { JOIN_BODY_LIMIT, joinApi } from './join-api.js';
import { CloudPki, nodeNameOf, serverTlsOptions } from './pki.js';

describe('joining an edge to cloudcore over HTTPS', () => {
  let dir: string;
  let pki: CloudPki;
  let server: Server;
  let cloud: string;
  let certRequests = 0;
  const sockets = new Set<TLSSocket>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-join-'));
    pki = await CloudPki.open(join(dir, 'pki'));
    const api = joinApi(pki);
    server = createServer(serverTlsOptions(pki), (req, res) => {
      if (req.url === '/edge.crt') certRequests++;
      if (!api(req, res)) res.writeHead(404).end();
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cloud = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    certRequests = 0;
  });

  const paths = (name: string) => ({
    dataDir: join(dir, name, 'data'),
    configFile: join(dir, name, 'edge.yaml'),
  });

  it('writes the certificates and an edge config; the node certificate then authenticates on TLS', async () => {
    const { dataDir, configFile } = paths('ok');
    await mkdir(join(dir, 'ok'));
    await writeFile(configFile, '# my gateway\nhttp:\n  port: 12345\ncloud:\n  keepaliveSeconds: 5\n');
    const result = await joinCloud({
      cloud,
      token: await pki.issueToken(60),
      nodeName: 'edge-7',
      dataDir,
      configFile,
    });
    expect(result).toEqual({
      configFile,
      certFile: join(dataDir, 'certs/node.crt'),
      nodeName: 'edge-7',
      dataDir,
    });

    const config = await loadEdgeConfig(configFile);
    expect(config).toMatchObject({
      nodeName: 'edge-7',
      dataDir,
      http: { port: 12345 },
      cloud: {
        enabled: true,
        server: cloud,
        caFile: join(dataDir, 'certs/ca.crt'),
        certFile: join(dataDir, 'certs/node.crt'),
        keyFile: join(dataDir, 'certs/node.key'),
        keepaliveSeconds: 5,
      },
    });
    expect(await readFile(configFile, 'utf8')).toContain('# my gateway');
    expect((await stat(config.cloud.keyFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(config.cloud.caFile, 'utf8')).toBe(pki.caPem);

    const serverSide = once(server, 'secureConnection') as Promise<[TLSSocket]>;
    const client = connect({
      host: '127.0.0.1',
      port: Number(cloud.split(':')[1]),
      ca: await readFile(config.cloud.caFile),
      cert: await readFile(config.cloud.certFile),
      key: await readFile(config.cloud.keyFile),
    });
    await once(client, 'secureConnect');
    const [socket] = await serverSide;
    expect(client.authorized).toBe(true);
    expect(socket.authorized).toBe(true);
    expect(nodeNameOf(socket.getPeerCertificate())).toBe('edge-7');
    client.destroy();
  });

  it('writes every replica given into cloud.servers, and refuses a malformed one before joining', async () => {
    const { dataDir, configFile } = paths('replicas');
    const servers = [cloud, '[::1]:10000', 'cloudcore-1.cloudcore.kubeedge.svc:10000'];
    await joinCloud({
      cloud,
      servers,
      token: await pki.issueToken(60),
      nodeName: 'edge-r',
      dataDir,
      configFile,
    });
    expect((await loadEdgeConfig(configFile)).cloud).toMatchObject({ server: cloud, servers });
    await expect(
      joinCloud({
        cloud,
        servers: ['cloudcore-1'],
        token: await pki.issueToken(60),
        ...paths('bad-replicas'),
      }),
    ).rejects.toThrow('--server cloudcore-1: expected host:port');
    expect(certRequests).toBe(1);
  });

  it('fails with the 401 message on a token this cloud did not sign, and writes nothing', async () => {
    const { dataDir, configFile } = paths('forged');
    const other = await CloudPki.open(join(dir, 'other-pki'));
    const foreignJwt = (await other.issueToken(60)).split('.').slice(1).join('.');
    const token = `${pki.caHash()}.${foreignJwt}`;
    await expect(joinCloud({ cloud, token, nodeName: 'edge-8', dataDir, configFile })).rejects.toThrow(
      `cloudcore at ${cloud} refused /edge.crt (401): token has a bad signature`,
    );
    await expect(access(join(dir, 'forged'))).rejects.toThrow(/ENOENT/);
  });

  it("stops before sending anything when the cloud's CA is not the token's", async () => {
    const { dataDir, configFile } = paths('foreign');
    const other = await CloudPki.open(join(dir, 'other-pki'));
    const token = await other.issueToken(60);
    await expect(joinCloud({ cloud, token, nodeName: 'edge-9', dataDir, configFile })).rejects.toThrow(
      `the CA at ${cloud} does not match the token's CA hash`,
    );
    expect(certRequests).toBe(0);
    await expect(access(join(dir, 'foreign'))).rejects.toThrow(/ENOENT/);
  });

  it('says when cloudcore cannot be reached', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const token = await pki.issueToken(60);
    await expect(
      joinCloud({ cloud: `127.0.0.1:${port}`, token, nodeName: 'edge-1', ...paths('unreachable') }),
    ).rejects.toThrow(`cannot reach cloudcore at 127.0.0.1:${port}: ECONNREFUSED`);
  });

  describe('POST /edge.crt', () => {
    async function post(body: string | string[], headers: Record<string, string> = {}) {
      const [, port] = cloud.split(':');
      const req = request({
        host: '127.0.0.1',
        port: Number(port),
        path: '/edge.crt',
        method: 'POST',
        ca: pki.caPem,
        agent: false,
        headers: { authorization: `Bearer ${await pki.issueToken(60)}`, ...headers },
      });
      req.on('error', () => undefined); // the server may close while a too-large body is still being sent
      for (const chunk of Array.isArray(body) ? body : [body]) req.write(chunk);
      req.end();
      const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
      let text = '';
      for await (const chunk of res) text += chunk;
      return { status: res.statusCode, body: JSON.parse(text) as unknown };
    }

    it('answers 413 to a body over 64 KiB, with or without a content-length', async () => {
      const big = 'x'.repeat(JOIN_BODY_LIMIT + 1);
      expect(await post(big, { 'content-length': String(big.length) })).toEqual({
        status: 413,
        body: { error: `body: larger than ${JOIN_BODY_LIMIT} bytes` },
      });
      expect((await post([big.slice(0, 40_000), big.slice(40_000)])).status).toBe(413);
    });

    it('answers 400 naming the field of a bad body, 401 without a token', async () => {
      expect(await post('{"nodeName": "edge-1"}')).toEqual({
        status: 400,
        body: { error: 'csr: required string (PEM)' },
      });
      expect(await post('not json')).toEqual({ status: 400, body: { error: 'body: not JSON' } });
      expect(await post('{}', { authorization: '' })).toEqual({
        status: 401,
        body: { error: 'Authorization: missing bearer token' },
      });
    });
  });
});
