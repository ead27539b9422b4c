import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudError, CloudPki } from './pki.js';

const ES256 = { name: 'ECDSA', hash: 'SHA-256' } as const;

async function csrFor(cn: string): Promise<string> {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [cn] }],
    keys,
    signingAlgorithm: ES256,
  });
  return csr.toString('pem');
}

describe('CloudPki', () => {
  let dir: string;
  let pki: CloudPki;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-pki-'));
    pki = await CloudPki.open(join(dir, 'pki'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('creates a CA and a server certificate, keys readable only by the owner', async () => {
    const ca = new X509Certificate(await readFile(join(dir, 'pki/ca.crt')));
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe('CN=edgetwin-ca');
    const server = new X509Certificate(pki.serverCertPem);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(server.checkHost('localhost')).toBe('localhost');
    for (const key of ['ca.key', 'server.key'])
      expect((await stat(join(dir, 'pki', key))).mode & 0o777).toBe(0o600);
  });

  it('loads the same CA when reopened, and reissues the server certificate for new hosts', async () => {
    const again = await CloudPki.open(join(dir, 'pki'));
    expect(again.caHash()).toBe(pki.caHash());
    expect(again.serverCertPem).toBe(pki.serverCertPem);
    const withHost = await CloudPki.open(join(dir, 'pki'), { hosts: ['cloud.example.org'] });
    expect(withHost.caHash()).toBe(pki.caHash());
    expect(new X509Certificate(withHost.serverCertPem).checkHost('cloud.example.org')).toBe(
      'cloud.example.org',
    );
  });

  it('accepts a token it issued', async () => {
    const token = await pki.issueToken(60);
    expect(token.startsWith(`${pki.caHash()}.`)).toBe(true);
    await expect(pki.verifyToken(token)).resolves.toMatchObject({ replace: false });
    expect((await pki.verifyToken(token)).node).toBeUndefined();
  });

  it('rejects an expired token', async () => {
    const token = await pki.issueToken(60, new Date(Date.now() - 120_000));
    await expect(pki.verifyToken(token)).rejects.toThrow(/expired/);
    await expect(pki.verifyToken(token)).rejects.toMatchObject({ status: 401, code: 'TOKEN_EXPIRED' });
  });

  it("rejects another cloud's token by its CA hash", async () => {
    const other = await CloudPki.open(join(dir, 'other'));
    await expect(pki.verifyToken(await other.issueToken(60))).rejects.toThrow(/does not match/);
  });

  it('rejects a token whose JWT was tampered with or signed by another CA', async () => {
    const token = await pki.issueToken(60);
    const [hash, header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 3600 })).toString('base64url');
    await expect(pki.verifyToken([hash, header, forged, signature].join('.'))).rejects.toThrow(/signature/);
    const other = await CloudPki.open(join(dir, 'other'));
    const foreignJwt = (await other.issueToken(60)).split('.').slice(1).join('.');
    await expect(pki.verifyToken(`${hash}.${foreignJwt}`)).rejects.toThrow(/signature/);
  });

  it('rejects a malformed token', async () => {
    await expect(pki.verifyToken('nonsense')).rejects.toThrow(/malformed/);
    await expect(pki.verifyToken(`${pki.caHash()}.not-a-jwt`)).rejects.toThrow(/malformed/);
  });

  it('signs a node certificate for a CSR whose CN is the node name', async () => {
    const pem = await pki.signCsr(await csrFor('edge-1'), 'edge-1');
    const cert = new X509Certificate(pem);
    expect(cert.subject).toBe('CN=edge-1');
    expect(cert.verify(new X509Certificate(pki.caPem).publicKey)).toBe(true);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.ca).toBe(false);
  });

  it('refuses a CSR whose CN is not the node name, a bad node name and a bad PEM', async () => {
    await expect(pki.signCsr(await csrFor('edge-2'), 'edge-1')).rejects.toThrow(
      'csr: subject CN "edge-2" does not match nodeName "edge-1"',
    );
    await expect(pki.signCsr(await csrFor('Edge_1'), 'Edge_1')).rejects.toThrow(/^nodeName: /);
    await expect(pki.signCsr('hello', 'edge-1')).rejects.toThrow(
      'csr: not a PEM-encoded PKCS#10 certificate request',
    );
    const garbled = '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n';
    const error = await pki.signCsr(garbled, 'edge-1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CloudError);
    expect(error).toMatchObject({ status: 400, code: 'CSR_INVALID' });
  });
});
