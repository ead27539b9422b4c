import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WebSocket } from 'ws';

/**
 * Dials CloudHub at `cloud` (host:port) as a joined node, with the certificates `edgetwin join` wrote to `certs`;
 * resolves once the hub accepted (101) or refused (its HTTP status; -1 for no answer). The socket is added to
 * `sockets`, if given, for the test to terminate.
 */
export async function connectNode(
  certs: string,
  cloud: string,
  sockets: WebSocket[] = [],
): Promise<{ ws: WebSocket; status: number }> {
  const ws = new WebSocket(`wss://${cloud}/edge`, {
    ca: await readFile(join(certs, 'ca.crt')),
    cert: await readFile(join(certs, 'node.crt')),
    key: await readFile(join(certs, 'node.key')),
  });
  sockets.push(ws);
  const status = await new Promise<number>((resolve) => {
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('open', () => resolve(101));
    ws.on('error', () => resolve(-1));
  });
  return { ws, status };
}
