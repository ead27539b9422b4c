import 'reflect-metadata';
import { createHash, createPrivateKey, KeyObject, randomUUID, webcrypto, X509Certificate } from 'node:crypto';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { EdgetwinError } from '../device-models/errors.js';
import { JoinLedger } from './join-ledger.js';

/** A join request the cloud refuses; `status` is the HTTP status the join API answers with. */
export class CloudError extends EdgetwinError {
  constructor(
    code: string,
    readonly status: 400 | 401 | 403 | 409,
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
/** The claim of a token allowed to take over a node name that has already joined. */
const REPLACE_CLAIM = 'edgetwin.io/replace';

/** What a join token may be used for, beyond joining once. */
export interface TokenBinding {
  /** Only this node name may join with the token (the JWT's `sub`). */
  node?: string;
  /** The node may already have joined: its certificate is replaced (needs `node`). */
  force?: boolean;
}

/** A verified join token: its id (`jti`), expiry (`exp`, s) and binding. */
export interface JoinGrant {
  id: string;
  expiresAt: number;
  node?: string;
  replace: boolean;
}

/**
 * cloudcore's certificate authority, kept as PEM files in one directory: the CA signs the CloudHub's server
 * certificate, the join tokens (ES256 JWTs) and the node certificates edges get by `edgetwin join`.
 */
export class CloudPki {
  private constructor(
    private readonly ca: Ca,
    private readonly server: { certPem: string; keyPem: string },
    /** Spent tokens and joined nodes (join-ledger.ts), in the same directory. */
    readonly ledger: JoinLedger,
  ) {}

  /** Loads the CA and server certificate from `dir`, creating what is missing; `hosts` go into the server's SAN. */
  static async open(dir: string, options: { hosts?: string[] } = {}): Promise<CloudPki> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const ca = await openCa(dir);
    const hosts = ['127.0.0.1', '::1', 'localhost', ...(options.hosts ?? [])];
    const server = await openServer(dir, ca, hosts);
    return new CloudPki(ca, server, await JoinLedger.open(dir));
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

  /**
   * A join token: `<caHash>.<JWT signed by the CA>`, good for one join within `ttlSeconds` from `issuedAt`;
   * with `binding.node`, for that node name only. A node name that has already joined is refused (409) unless
   * `binding.force`: then the token may replace that node's certificate.
   */
  async issueToken(ttlSeconds: number, issuedAt = new Date(), binding: TokenBinding = {}): Promise<string> {
    if (!(ttlSeconds >= 1))
      throw new EdgetwinError('TOKEN_TTL_INVALID', `token ttl ${ttlSeconds}: must be ≥ 1 s`);
    const { node, force = false } = binding;
    if (force && node === undefined)
      throw new EdgetwinError('TOKEN_FORCE_UNBOUND', 'force: a token that may replace a node must name it');
    if (node !== undefined) {
      checkNodeName(node);
      await this.ledger.reload();
      const joined = this.ledger.node(node);
      if (joined && !force) throw alreadyJoined(node, joined.joinedAt);
    }
    const iat = Math.floor(issuedAt.getTime() / 1000);
    const jwt = new SignJWT(force ? { [REPLACE_CLAIM]: true } : {})
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(JWT_CLAIMS.issuer)
      .setAudience(JWT_CLAIMS.audience)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.round(ttlSeconds));
    if (node !== undefined) jwt.setSubject(node);
    return `${this.caHash()}.${await jwt.sign(this.ca.key)}`;
  }

  /**
   * What `token` allows; throws a `CloudError` (401) unless it was issued by this CA and has not expired.
   * Whether it was spent already is `join`'s to say.
   */
  async verifyToken(token: string): Promise<JoinGrant> {
    const match = /^([0-9a-f]{64})\.(.+)$/.exec(token.trim());
    if (!match) throw tokenError('TOKEN_MALFORMED', 'token is malformed: expected <sha256 hex>.<JWT>');
    if (match[1] !== this.caHash())
      throw tokenError('TOKEN_CA_MISMATCH', "token's CA hash does not match this cloud's CA");
    let payload: import('jose').JWTPayload;
    try {
      ({ payload } = await jwtVerify(match[2]!, this.ca.publicKey, { ...JWT_CLAIMS, algorithms: ['ES256'] }));
    } catch (error) {
      throw joseToCloudError(error);
    }
    if (typeof payload.jti !== 'string' || typeof payload.exp !== 'number')
      throw tokenError('TOKEN_INVALID', 'token is not a join token: it has no jti or exp');
    return {
      id: payload.jti,
      expiresAt: payload.exp,
      ...(typeof payload.sub === 'string' ? { node: payload.sub } : {}),
      replace: payload[REPLACE_CLAIM] === true,
    };
  }

  /**
   * Spends `grant` on a certificate for `nodeName`: refused (403) when the token is bound to another name,
   * (401) when it was spent already, (409) when the name has joined before and the token may not replace it.
   * On success the token is spent and the node's certificate recorded, before the certificate is returned;
   * `replaced` says whether it takes the place of an earlier one.
   */
  async join(
    grant: JoinGrant,
    nodeName: string,
    csrPem: string,
  ): Promise<{ certificate: string; replaced: boolean }> {
    checkNodeName(nodeName);
    if (grant.node !== undefined && grant.node !== nodeName)
      throw new CloudError(
        'TOKEN_NODE_MISMATCH',
        403,
        `token is bound to node "${grant.node}": it cannot join "${nodeName}"`,
      );
    return this.ledger.update(async (ledger) => {
      const used = ledger.usedToken(grant.id);
      if (used)
        throw tokenError(
          'TOKEN_USED',
          `token has already been used (node "${used.node}" joined with it at ${used.usedAt}); make a new one with edgetwin token`,
        );
      const joined = ledger.node(nodeName);
      if (joined && !grant.replace) throw alreadyJoined(nodeName, joined.joinedAt);
      const certificate = await this.signCsr(csrPem, nodeName);
      const usedAt = new Date().toISOString();
      ledger.spendToken(grant.id, { node: nodeName, usedAt, expiresAt: grant.expiresAt });
      ledger.setNode(nodeName, { certSha256: sha256Hex(certificate), joinedAt: usedAt });
      return { certificate, replaced: joined !== undefined };
    });
  }

  /**
   * Whether a client certificate (signed by this CA, CN = `nodeName`) is the one `nodeName` holds now: false
   * once a later join (with `--force`) replaced it. A node that joined before the ledger existed is recorded
   * with the certificate it first connects with.
   */
  async isCurrentCertificate(nodeName: string, der: Buffer): Promise<boolean> {
    const presented = createHash('sha256').update(der).digest('hex');
    const joined = this.ledger.node(nodeName);
    if (joined) return joined.certSha256 === presented;
    return this.ledger.update(async (ledger) => {
      const now = ledger.node(nodeName);
      if (now) return now.certSha256 === presented;
      ledger.setNode(nodeName, { certSha256: presented, joinedAt: new Date().toISOString() });
      return true;
    });
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

function alreadyJoined(node: string, joinedAt: string): CloudError {
  return new CloudError(
    'NODE_ALREADY_JOINED',
    409,
    `node "${node}" has already joined (certificate issued ${joinedAt}); to replace it, make a token with edgetwin token --node ${node} --force`,
  );
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
