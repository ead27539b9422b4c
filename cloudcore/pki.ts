import 'reflect-metadata';
import { createHash, createPrivateKey, KeyObject, randomUUID, webcrypto, X509Certificate } from 'node:crypto';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { EdgetwinError } from '../device-models/errors.js';

/** A join request the cloud refuses; `status` is the HTTP status the join API answers with. */
export class CloudError extends EdgetwinError {
  constructor(
    code: string,
    readonly status: 400 | 401,
    message: string,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }
}

/** A Kubernetes node name (DNS-1123 subdomain). */
const NODE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
type CryptoKey = webcrypto.CryptoKey;

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ES256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
const CLOCK_SKEW_MS = 5 * 60_000;
const JWT_CLAIMS = { issuer: 'edgetwin-cloudcore', audience: 'edgetwin-join' } as const;

/**
 * cloudcore's certificate authority, kept as PEM files in one directory: the CA signs the CloudHub's server
 * certificate, the join tokens (ES256 JWTs) and the node certificates edges get by `edgetwin join`.
 */
export class CloudPki {
  private constructor(
    private readonly ca: Ca,
    private readonly server: { certPem: string; keyPem: string },
  ) {}

  /** Loads the CA and server certificate from `dir`, creating what is missing; `hosts` go into the server's SAN. */
  static async open(dir: string, options: { hosts?: string[] } = {}): Promise<CloudPki> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const ca = await openCa(dir);
    const hosts = ['127.0.0.1', '::1', 'localhost', ...(options.hosts ?? [])];
    const server = await openServer(dir, ca, hosts);
    return new CloudPki(ca, server);
  }

  get caPem(): string {
    return this.ca.pem;
  }

  get serverCertPem(): string {
    return this.server.certPem;
  }

  get serverKeyPem(): string {
    return this.server.keyPem;
  }

  /** sha256 (hex) of the CA certificate's DER: the part of a join token before the first dot. */
  caHash(): string {
    return this.ca.hash;
  }

  /** A join token: `<caHash>.<JWT signed by the CA>`, valid for `ttlSeconds` from `issuedAt`. */
  async issueToken(ttlSeconds: number, issuedAt = new Date()): Promise<string> {
    if (!(ttlSeconds >= 1))
      throw new EdgetwinError('TOKEN_TTL_INVALID', `token ttl ${ttlSeconds}: must be ≥ 1 s`);
    const iat = Math.floor(issuedAt.getTime() / 1000);
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(JWT_CLAIMS.issuer)
      .setAudience(JWT_CLAIMS.audience)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.round(ttlSeconds))
      .sign(this.ca.key);
    return `${this.caHash()}.${jwt}`;
  }

  /** Throws a `CloudError` (401) unless `token` was issued by this CA and has not expired. */
  async verifyToken(token: string): Promise<void> {
    const match = /^([0-9a-f]{64})\.(.+)$/.exec(token.trim());
    if (!match) throw tokenError('TOKEN_MALFORMED', 'token is malformed: expected <sha256 hex>.<JWT>');
    if (match[1] !== this.caHash())
      throw tokenError('TOKEN_CA_MISMATCH', "token's CA hash does not match this cloud's CA");
    try {
      await jwtVerify(match[2]!, this.ca.publicKey, { ...JWT_CLAIMS, algorithms: ['ES256'] });
    } catch (error) {
      throw joseToCloudError(error);
    }
  }

  /** Signs a node certificate (clientAuth, 1 year, CN = `nodeName`) for a PEM CSR whose CN is `nodeName`. */
  async signCsr(csrPem: string, nodeName: string): Promise<string> {
    checkNodeName(nodeName);
    const csr = parseCsr(csrPem);
    if (!(await csr.verify().catch(() => false)))
      throw new CloudError('CSR_INVALID', 400, 'csr: its signature does not verify');
    const cn = csr.subjectName.getField('CN');
    if (cn.length !== 1 || cn[0] !== nodeName)
      throw new CloudError(
        'CSR_INVALID',
        400,
        `csr: subject CN "${cn.join(', ')}" does not match nodeName "${nodeName}"`,
      );
    const cert = await issue(this.ca, {
      subject: [{ CN: [nodeName] }],
      publicKey: csr.publicKey,
      days: 365,
      usage: x509.ExtendedKeyUsage.clientAuth,
    });
    return `${cert.toString('pem')}\n`;
  }
}

/** The node a TLS client certificate (signed by the cloud's CA) stands for: its subject CN. */
/**
 * TLS options of a server that edge nodes reach (CloudHub): this cloud's server certificate, and client
 * certificates asked for and checked against the CA, but not required (the join API serves nodes that have
 * none yet; the WebSocket refuses them).
 */
export function serverTlsOptions(pki: CloudPki) {
  return {
    cert: pki.serverCertPem,
    key: pki.serverKeyPem,
    ca: pki.caPem,
    requestCert: true,
    rejectUnauthorized: false,
  };
}

export function nodeNameOf(cert: PeerCertificate): string | undefined {
  const cn: unknown = cert.subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

function checkNodeName(nodeName: unknown): asserts nodeName is string {
  if (typeof nodeName !== 'string' || nodeName.length > 253 || !NODE_NAME.test(nodeName))
    throw new CloudError(
      'NODE_NAME_INVALID',
      400,
      'nodeName: must be a DNS-1123 subdomain (lowercase letters, digits, "-" and ".", at most 253 characters)',
    );
}

function parseCsr(pem: string): x509.Pkcs10CertificateRequest {
  const problem = 'csr: not a PEM-encoded PKCS#10 certificate request';
  if (!x509.PemConverter.isPem(pem) || !pem.includes(`BEGIN ${x509.PemConverter.CertificateRequestTag}`))
    throw new CloudError('CSR_INVALID', 400, problem);
  try {
    return new x509.Pkcs10CertificateRequest(pem);
  } catch (error) {
    throw new CloudError('CSR_INVALID', 400, problem, { cause: error });
  }
}

function tokenError(code: string, message: string, cause?: unknown): CloudError {
  return new CloudError(code, 401, message, cause === undefined ? undefined : { cause });
}

function joseToCloudError(error: unknown): CloudError {
  if (error instanceof joseErrors.JWTExpired) return tokenError('TOKEN_EXPIRED', 'token has expired', error);
  if (error instanceof joseErrors.JWSSignatureVerificationFailed)
    return tokenError('TOKEN_SIGNATURE_INVALID', 'token has a bad signature', error);
  if (error instanceof joseErrors.JWTClaimValidationFailed)
    return tokenError('TOKEN_INVALID', `token is not a join token: ${error.message}`, error);
  return tokenError('TOKEN_MALFORMED', `token is malformed: ${(error as Error).message}`, error);
}

type Ca = { cert: x509.X509Certificate; key: CryptoKey; publicKey: CryptoKey; pem: string; hash: string };

async function openCa(dir: string): Promise<Ca> {
  const certFile = join(dir, 'ca.crt');
  const keyFile = join(dir, 'ca.key');
  const [hasCert, hasKey] = await Promise.all([exists(certFile), exists(keyFile)]);
  if (hasCert && hasKey) {
    const pem = await readFile(certFile, 'utf8');
    const cert = new x509.X509Certificate(pem);
    const key = await importKey(await readFile(keyFile, 'utf8'));
    return { cert, key, publicKey: await cert.publicKey.export(), pem, hash: sha256Hex(pem) };
  }
  if (hasCert || hasKey)
    throw new EdgetwinError(
      'PKI_INCOMPLETE',
      `${dir}: has ${hasCert ? 'ca.crt' : 'ca.key'} but not the other`,
    );
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: ['edgetwin-ca'] }],
    keys,
    signingAlgorithm: ES256,
    notBefore: new Date(Date.now() - CLOCK_SKEW_MS),
    notAfter: new Date(Date.now() + 3650 * DAY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pem = `${cert.toString('pem')}\n`;
  await writeSecret(keyFile, exportKey(keys.privateKey));
  await writeFile(certFile, pem);
  return { cert, key: keys.privateKey, publicKey: keys.publicKey, pem, hash: sha256Hex(pem) };
}

/** Keeps server.crt while it is signed by this CA, still valid, and names every host; else issues a new one. */
async function openServer(
  dir: string,
  ca: Ca,
  hosts: string[],
): Promise<{ certPem: string; keyPem: string }> {
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');
  if ((await exists(certFile)) && (await exists(keyFile))) {
    const certPem = await readFile(certFile, 'utf8');
    if (serverCertFits(certPem, ca.pem, hosts)) return { certPem, keyPem: await readFile(keyFile, 'utf8') };
  }
  const keys = await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
  const cert = await issue(ca, {
    subject: [{ CN: ['edgetwin-cloudcore'] }],
    publicKey: keys.publicKey,
    days: 365,
    usage: x509.ExtendedKeyUsage.serverAuth,
    san: [...new Set(hosts)].map((h) => (isIP(h) ? { type: 'ip', value: h } : { type: 'dns', value: h })),
  });
  const server = { certPem: `${cert.toString('pem')}\n`, keyPem: exportKey(keys.privateKey) };
  await writeSecret(keyFile, server.keyPem);
  await writeFile(certFile, server.certPem);
  return server;
}

function serverCertFits(certPem: string, caPem: string, hosts: string[]): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return (
      cert.checkIssued(ca) &&
      cert.verify(ca.publicKey) &&
      Date.parse(cert.validTo) > Date.now() + 30 * DAY_MS &&
      hosts.every((h) => (isIP(h) ? cert.checkIP(h) : cert.checkHost(h)) !== undefined)
    );
  } catch {
    return false;
  }
}

async function issue(
  ca: Ca,
  cert: {
    subject: x509.JsonName;
    publicKey: CryptoKey | x509.PublicKey;
    days: number;
    usage: x509.ExtendedKeyUsage;
    san?: x509.JsonGeneralNames;
  },
): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    subject: cert.subject,
    issuer: ca.cert.subjectName,
    publicKey: cert.publicKey,
    signingKey: ca.key,
    signingAlgorithm: ES256,
    notBefore: new Date(Date.now() - CLOCK_SKEW_MS),
    notAfter: new Date(Date.now() + cert.days * DAY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([cert.usage]),
      ...(cert.san ? [new x509.SubjectAlternativeNameExtension(cert.san)] : []),
      await x509.SubjectKeyIdentifierExtension.create(cert.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
}

function sha256Hex(certPem: string): string {
  return createHash('sha256').update(new X509Certificate(certPem).raw).digest('hex');
}

function exportKey(key: CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string;
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  return webcrypto.subtle.importKey('pkcs8', der, EC_P256, false, ['sign']);
}

async function writeSecret(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
