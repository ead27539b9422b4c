import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import type { Logger } from '../sdk/index.js';
import type { CloudHubMetrics } from './cloudhub-metrics.js';
import { joinApi } from './join-api.js';
import { type CloudHubHandlers, type NodeObject, NodeSession } from './node-session.js';
import { type CloudPki, nodeNameOf, serverTlsOptions } from './pki.js';

export interface CloudHubOptions {
  pki: CloudPki;
  log: Logger;
  handlers: CloudHubHandlers;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** The hub pings every node this often, and drops a node that has not answered the previous ping. */
  keepaliveMs: number;
  resendMs: number;
  /** Largest frame accepted from an edge, in bytes. */
  maxMessageBytes?: number;
  /**
   * Told when a node's connection opens here and when it is gone (with several replicas: NodeLeases, so that
   * the replica holding a node's newest connection is known, and an older one elsewhere is dropped).
   */
  leases?: { acquire(node: string): void; release(node: string): void };
  metrics?: CloudHubMetrics;
}

/** The WebSocket path edge nodes connect to. */
export const EDGE_PATH = '/edge';

/**
 * cloudcore's end of the edge link (DESIGN.md §6): one HTTPS server for the join API (`GET /ca.crt`,
 * `POST /edge.crt`) and for the WebSocket edge nodes keep open. A node proves who it is with a client
 * certificate signed by the cloud's CA (its CN is the node name) and still the one the join ledger holds for
 * that name (a `--force` join replaces it, whichever replica it was made on: the ledger is read again for each
 * connection); a second connection of the same node replaces the first. On connect the node gets its full
 * state; after that, each change.
 */
export class CloudHub {
  url = '';
  private server?: Server;
  private wss?: WebSocketServer;
  private readonly sessions = new Map<string, NodeSession>();
  private keepalive?: NodeJS.Timeout;
  private readonly alive = new WeakSet<object>();

  constructor(private readonly options: CloudHubOptions) {}

  /** Nodes connected now. */
  get nodes(): string[] {
    return [...this.sessions.keys()];
  }

  async start(): Promise<void> {
    const { pki, log } = this.options;
    const join = joinApi(pki, {
      joined: (node, replaced) => {
        log.info(
          { node, replaced },
          replaced ? 'node joined again: its old certificate is refused' : 'node joined',
        );
        if (replaced) this.sessions.get(node)?.close(4001, 'node certificate replaced');
      },
      refused: (error, node) => log.warn({ node, code: error.code, err: error.message }, 'join refused'),
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.options.maxMessageBytes ?? 4 << 20 });
    this.server = createServer(serverTlsOptions(pki), (req, res) => {
      if (!join(req, res)) res.writeHead(404).end();
    });
    this.server.on('upgrade', (req, socket, head) => {
      const tls = socket as TLSSocket;
      const node = tls.authorized ? nodeNameOf(tls.getPeerCertificate()) : undefined;
      if (req.url !== EDGE_PATH || !node) {
        log.warn(
          { path: req.url, reason: tls.authorizationError ?? 'no node name' },
          'edge connection refused: no valid node certificate',
        );
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
        return;
      }
      const der = tls.getPeerCertificate().raw;
      // Read again: another replica (or a --force join there) may have changed it.
      pki.ledger
        .reload()
        .catch((error: unknown) =>
          log.warn(
            { node, err: (error as Error).message },
            'join ledger not read again: the copy held is used',
          ),
        )
        .then(() => pki.isCurrentCertificate(node, der))
        .then(
          (current) => {
            if (current) return this.wss!.handleUpgrade(req, socket, head, (ws) => this.accept(node, ws));
            log.warn({ node }, 'edge connection refused: this certificate was replaced by a later join');
            socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
          },
          (error: unknown) => {
            log.error(
              { node, err: (error as Error).message },
              'edge connection refused: join ledger unreadable',
            );
            socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
          },
        );
    });
    this.server.on('tlsClientError', (error) => log.debug({ err: error.message }, 'TLS handshake failed'));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port, this.options.host, () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = `${this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host}:${port}`;
    this.keepalive = setInterval(() => this.ping(), this.options.keepaliveMs);
    log.info({ url: this.url }, 'cloudhub listening');
  }

  /** The DeviceSink side: a device to (re)send to its node, if connected (otherwise it gets it on connect). */
  upsert(node: string, object: NodeObject): void {
    this.sessions.get(node)?.upsert(object);
  }

  remove(node: string, key: string, resourceVersion: string): void {
    this.sessions.get(node)?.remove(key, resourceVersion);
  }

  /** Messages sent to `node` and not yet answered. */
  unacknowledged(node: string): number {
    return this.sessions.get(node)?.unacknowledged ?? 0;
  }

  /** Drops every connection (tests cut the link with this); nodes reconnect on their own. */
  disconnectAll(): void {
    for (const session of this.sessions.values()) session.close(1012, 'cloudhub restarting');
  }

  /**
   * Drops `node`'s connection here (it connected to another replica since); the close is sent, and the socket
   * destroyed if the node does not answer it, as a half-open one would not.
   */
  drop(node: string, code: number, reason: string): void {
    const session = this.sessions.get(node);
    if (!session) return;
    this.detach(node, session);
    session.close(code, reason);
    setTimeout(() => session.terminate(), this.options.keepaliveMs).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.keepalive);
    for (const [node, session] of this.sessions) {
      this.detach(node, session);
      session.close(1001, 'cloudhub stopping');
    }
    this.sessions.clear();
    for (const ws of this.wss?.clients ?? []) ws.terminate();
    this.wss?.close();
    if (this.server?.listening) {
      this.server.closeAllConnections();
      await new Promise<void>((resolve) => this.server!.close(() => resolve()));
    }
  }

  private accept(node: string, ws: import('ws').WebSocket): void {
    const { log } = this.options;
    this.sessions.get(node)?.close(4000, 'replaced by a newer connection');
    const session = new NodeSession(node, ws, {
      log: log.child({ node }),
      handlers: this.options.handlers,
      resendMs: this.options.resendMs,
      keepalive: (content) => this.options.metrics?.keepalive(node, content.outboxDepth),
    });
    this.sessions.set(node, session);
    this.options.leases?.acquire(node);
    this.options.metrics?.connected(node);
    this.alive.add(ws);
    ws.on('pong', () => this.alive.add(ws));
    ws.on('error', (error) => log.debug({ node, err: error.message }, 'edge socket error'));
    ws.on('close', () => {
      session.dispose();
      this.detach(node, session);
      log.info({ node }, 'edge node disconnected');
    });
    log.info({ node }, 'edge node connected');
    session.sendFullState();
  }

  /** `session` is `node`'s connection here no more: its Lease is let go, unless a newer one took its place. */
  private detach(node: string, session: NodeSession): void {
    if (this.sessions.get(node) !== session) return;
    this.sessions.delete(node);
    this.options.leases?.release(node);
    this.options.metrics?.disconnected(node);
  }

  private ping(): void {
    for (const ws of this.wss?.clients ?? []) {
      if (!this.alive.has(ws)) {
        ws.terminate();
        continue;
      }
      this.alive.delete(ws);
      ws.ping();
    }
  }
}
