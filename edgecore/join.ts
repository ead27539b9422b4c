import 'reflect-metadata';
import { createHash, KeyObject, webcrypto, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { type RequestOptions, request } from 'node:https';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import * as x509 from '@peculiar/x509';
import { Document, parseDocument } from 'yaml';
import { EdgetwinError } from '../device-models/errors.js';
import { edgeConfig } from './config.js';

/** `edgetwin join` failed: cloudcore unreachable or refusing, the CA not the token's, or a bad config file. */
export class JoinError extends EdgetwinError {
  constructor(message: string, options?: ErrorOptions) {
    super('JOIN_FAILED', message, options);
  }
}

export interface JoinOptions {
  /** cloudcore's CloudHub, host:port: where the join is made, and `cloud.server` in the config. */
  cloud: string;
  /**
   * Every cloudcore replica, host:port each, written as `cloud.servers` (the edge dials them in turn); left as
   * the config has it when absent. One Service address in `cloud` needs none.
   */
  servers?: string[];
  /** From `edgetwin token`: `<sha256 of the CA certificate>.<JWT>`. */
  token: string;
  /** Default: the config file's nodeName, else this host's name. */
  nodeName?: string;
  /** Default: the config file's dataDir (an edge that ran standalone keeps its twins), else ./data. */
  dataDir?: string;
  configFile: string;
}

export interface Joined {
  configFile: string;
  certFile: string;
  nodeName: string;
  /** The data directory in the config (the twin database lives there), as written there. */
  dataDir: string;
}

const TIMEOUT_MS = 10_000;

/**
 * Joins this edge to cloudcore: fetches the CA (unverified) and checks it against the token's hash, then,
 * trusting that CA, trades the token and a CSR for a node certificate; writes `<dataDir>/certs/{ca,node}.crt`,
 * `node.key` and the edge config's `nodeName`, `dataDir` and `cloud` section (the rest of the file is kept).
 * An edge that ran standalone keeps its node name and data directory (so its twin database) unless told
 * otherwise; its twins are synced to the cloud once connected.
 */
export async function joinCloud(options: JoinOptions): Promise<Joined> {
  const token = options.token.trim();
  const caHash = /^([0-9a-f]{64})\./.exec(token)?.[1];
  if (!caHash)
    throw new JoinError('the token is malformed: expected <sha256 hex>.<JWT> (from edgetwin token)');
  const cloud = { name: options.cloud, ...hostAndPort(options.cloud) };
  for (const server of options.servers ?? []) hostAndPort(server, '--server');
  const configFile = resolve(options.configFile);
  const existing = await existingConfig(configFile);
  const nodeName = options.nodeName ?? existing.nodeName ?? hostname().toLowerCase();
  // A dataDir already in the file is kept as written: edgecore resolves it as before, and finds its database.
  const dataDir =
    options.dataDir !== undefined ? resolve(options.dataDir) : (existing.dataDir ?? resolve('./data'));
  const certs = resolve(dataDir, 'certs');
  const files = {
    caFile: join(certs, 'ca.crt'),
    certFile: join(certs, 'node.crt'),
    keyFile: join(certs, 'node.key'),
  };
  const config = await updatedConfig(configFile, {
    nodeName,
    dataDir,
    cloud: {
      enabled: true,
      server: options.cloud,
      ...(options.servers ? { servers: options.servers } : {}),
      ...files,
    },
  });

  const ca = await fetchCa(cloud, caHash);
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ]);
  const node = await requestCertificate(cloud, ca, token, nodeName, keys);

  await mkdir(resolve(dataDir), { recursive: true, mode: 0o700 });
  await mkdir(certs, { recursive: true, mode: 0o700 });
  const keyPem = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' });
  await writeFile(files.keyFile, keyPem, { mode: 0o600 });
  await chmod(files.keyFile, 0o600);
  await writeFile(files.certFile, node.toString());
  await writeFile(files.caFile, ca.toString());
  await mkdir(dirname(configFile), { recursive: true });
  await writeFile(configFile, config);
  return { configFile, certFile: files.certFile, nodeName, dataDir };
}

/** nodeName and dataDir of the config file there is (none: {}); a file that cannot be parsed is left to updatedConfig. */
async function existingConfig(file: string): Promise<{ nodeName?: string; dataDir?: string }> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const doc = parseDocument(text);
  if (doc.errors.length > 0) return {};
  const value = doc.toJS() as { nodeName?: unknown; dataDir?: unknown } | null;
  const string = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const nodeName = string(value?.nodeName);
  const dataDir = string(value?.dataDir);
  return { ...(nodeName ? { nodeName } : {}), ...(dataDir ? { dataDir } : {}) };
}

type Cloud = { name: string; host: string; port: number };

/** The cloud's CA, fetched without TLS verification and trusted only if its sha256 is the token's. */
async function fetchCa(cloud: Cloud, caHash: string): Promise<X509Certificate> {
  const { body } = await call(cloud, { path: '/ca.crt', rejectUnauthorized: false });
  const ca = parseCertificate(body, `the answer of ${cloud.name}/ca.crt`);
  if (createHash('sha256').update(ca.raw).digest('hex') !== caHash)
    throw new JoinError(`the CA at ${cloud.name} does not match the token's CA hash`);
  return ca;
}

/** Sends the token and a CSR for `nodeName` over TLS verified against `ca`; returns the node certificate. */
async function requestCertificate(
  cloud: Cloud,
  ca: X509Certificate,
  token: string,
  nodeName: string,
  keys: webcrypto.CryptoKeyPair,
): Promise<X509Certificate> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [nodeName] }],
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  const { body } = await call(
    cloud,
    {
      path: '/edge.crt',
      method: 'POST',
      ca: ca.toString(),
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    },
    JSON.stringify({ nodeName, csr: csr.toString('pem') }),
  );
  const node = parseCertificate(certificateIn(body), `the answer of ${cloud.name}/edge.crt`);
  if (!node.checkIssued(ca) || !node.verify(ca.publicKey))
    throw new JoinError(`the node certificate from ${cloud.name} is not signed by its CA`);
  return node;
}

/** The edge config file with `changes` set (and validated), as YAML text; comments and other fields are kept. */
async function updatedConfig(file: string, changes: Record<string, unknown>): Promise<string> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new JoinError(`${file}: ${error.message}`, { cause: error });
  });
  const doc = text === undefined ? new Document({}) : parseDocument(text);
  if (doc.errors.length > 0) throw new JoinError(`${file}: ${doc.errors[0]!.message.split('\n')[0]}`);
  try {
    for (const [key, value] of Object.entries(changes)) {
      if (typeof value !== 'object' || value === null) doc.setIn([key], value);
      else for (const [sub, v] of Object.entries(value)) doc.setIn([key, sub], v);
    }
    edgeConfig(doc.toJS());
  } catch (error) {
    throw new JoinError(`${file}: ${(error as Error).message}`, { cause: error });
  }
  return doc.toString();
}

function hostAndPort(cloud: string, flag = '--cloud'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(cloud);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535)
    throw new JoinError(`${flag} ${cloud}: expected host:port, e.g. 192.0.2.10:10000 or [::1]:10000`);
  return { host: (match[1] ?? match[2])!, port };
}

function certificateIn(json: string): string {
  try {
    const { certificate } = JSON.parse(json) as { certificate?: unknown };
    return typeof certificate === 'string' ? certificate : '';
  } catch {
    return '';
  }
}

function parseCertificate(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new JoinError(`${what} is not a PEM certificate`, { cause: error });
  }
}

/** One HTTPS request; anything but 200 becomes a JoinError carrying the server's `{ error }` message. */
function call(cloud: Cloud, options: RequestOptions, body?: string): Promise<{ body: string }> {
  return new Promise((resolve, reject) => {
    const fail = (message: string, cause?: unknown) =>
      reject(new JoinError(message, cause === undefined ? undefined : { cause }));
    const req = request(
      { host: cloud.host, port: cloud.port, agent: false, timeout: TIMEOUT_MS, ...options },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => fail(`cannot reach cloudcore at ${cloud.name}: ${error.message}`, error));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) return resolve({ body: text });
          fail(
            `cloudcore at ${cloud.name} refused ${options.path} (${res.statusCode}): ${errorMessageOf(text)}`,
          );
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', (error: NodeJS.ErrnoException) =>
      fail(
        `cannot reach cloudcore at ${cloud.name}: ${/^E[A-Z]+$/.test(error.code ?? '') ? error.code : error.message}`,
        error,
      ),
    );
    req.end(body);
  });
}

function errorMessageOf(text: string): string {
  try {
    const { error } = JSON.parse(text) as { error?: unknown };
    if (typeof error === 'string') return error;
  } catch {}
  return text.slice(0, 200) || 'no message';
}
