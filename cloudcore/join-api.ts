import type { IncomingMessage, ServerResponse } from 'node:http';
import { CloudError, type CloudPki } from './pki.js';

/** What the join API tells its server about (CloudHub logs them, and drops the session of a replaced node). */
export interface JoinEvents {
  joined?(node: string, replaced: boolean): void;
  refused?(error: CloudError, node: string | undefined): void;
}

/** The largest join request body accepted (a CSR is well under 2 KiB). */
export const JOIN_BODY_LIMIT = 64 * 1024;

/**
 * The join API on the CloudHub's HTTPS server: `GET /ca.crt` (the CA, fetched by the edge without TLS
 * verification and checked against the token's hash) and `POST /edge.crt` (token + CSR → node certificate).
 * A token is spent by the join it allows (CloudPki.join): a second use, a token bound to another node name, or a
 * node name that has joined before (unless the token was made with --force) is refused with 401, 403 or 409.
 * Returns false for any other path so the caller can serve it.
 */
export function joinApi(
  pki: CloudPki,
  events: JoinEvents = {},
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/ca.crt') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
      res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(pki.caPem);
      return true;
    }
    if (path === '/edge.crt') {
      if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
      issueNodeCertificate(pki, events, req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: `internal error: ${(error as Error).message}` });
        else res.destroy();
      });
      return true;
    }
    return false;
  };
}

async function issueNodeCertificate(
  pki: CloudPki,
  events: JoinEvents,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  if (Number(req.headers['content-length'] ?? 0) > JOIN_BODY_LIMIT) return tooLarge(req, res);
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!bearer)
    return refuse(res, new CloudError('TOKEN_MISSING', 401, 'Authorization: missing bearer token'));
  let node: string | undefined;
  try {
    const grant = await pki.verifyToken(bearer[1]!);
    const raw = await readBody(req);
    if (raw === undefined) return tooLarge(req, res);
    const { nodeName, csr } = parseJoinRequest(raw);
    node = nodeName;
    const { certificate, replaced } = await pki.join(grant, nodeName, csr);
    sendJson(res, 200, { certificate });
    events.joined?.(nodeName, replaced);
  } catch (error) {
    if (!(error instanceof CloudError)) throw error;
    refuse(res, error);
    events.refused?.(error, node);
  }
}

function parseJoinRequest(raw: string): { nodeName: string; csr: string } {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new CloudError('BODY_INVALID', 400, 'body: not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new CloudError('BODY_INVALID', 400, 'body: expected a JSON object { nodeName, csr }');
  const { nodeName, csr } = body as Record<string, unknown>;
  if (typeof nodeName !== 'string') throw new CloudError('BODY_INVALID', 400, 'nodeName: required string');
  if (typeof csr !== 'string') throw new CloudError('BODY_INVALID', 400, 'csr: required string (PEM)');
  return { nodeName, csr };
}

/** The body as text, or undefined once it grows past the limit (the rest is drained, not kept). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= JOIN_BODY_LIMIT) return void chunks.push(chunk);
      req.off('data', onData).off('end', onEnd);
      resolve(undefined);
    };
    const onEnd = () => resolve(Buffer.concat(chunks).toString('utf8'));
    req.on('data', onData).on('end', onEnd).on('error', reject);
  });
}

function tooLarge(req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  res.setHeader('connection', 'close');
  sendJson(res, 413, { error: `body: larger than ${JOIN_BODY_LIMIT} bytes` });
}

function refuse(res: ServerResponse, error: CloudError): void {
  if (error.status === 401) res.setHeader('www-authenticate', 'Bearer');
  sendJson(res, error.status, { error: error.message });
}

function methodNotAllowed(res: ServerResponse, allow: string): true {
  res.setHeader('allow', allow);
  sendJson(res, 405, { error: `method not allowed (use ${allow})` });
  return true;
}

function sendJson(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
