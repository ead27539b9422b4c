import { type Server, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { LimitedLogger } from '../sdk/log-limit.js';
import type { HttpSettings } from './config.js';

type HttpConfig = HttpSettings;

/** The options of `http.createServer` that bound how long a client may take. */
export function serverTimeouts(http: HttpConfig) {
  return {
    headersTimeout: http.headersTimeoutMs,
    requestTimeout: http.requestTimeoutMs,
    // How often node looks for requests past those timeouts (its default, 30 s, would let a slow client
    // hold its socket for up to headersTimeout + 30 s).
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(http.headersTimeoutMs / 4))),
    requireHostHeader: true,
  };
}

/**
 * Bounds the server (local DoS, a thousand half-open requests holding every descriptor): at most
 * `maxConnections` sockets (further ones are closed by node at once: 'drop'), an idle socket closed after
 * `idleTimeoutMs`. Each is logged through `log`, which is rate-limited: a flood is a few lines and a
 * "suppressed K similar". A request whose headers or body are late is answered by clientErrorHandler.
 */
export function boundServer(server: Server, http: HttpConfig, log: LimitedLogger): void {
  server.maxConnections = http.maxConnections;
  server.keepAliveTimeout = http.idleTimeoutMs;
  // Socket inactivity (no byte either way) while a request is in flight is bounded by requestTimeout;
  // this closes a connection that went silent and that node's request timers do not watch.
  server.setTimeout(Math.max(http.idleTimeoutMs, http.requestTimeoutMs), (socket: Socket) => {
    log.warn({ remote: socket.remoteAddress }, 'http connection idle too long, closed');
    socket.destroy();
  });
  server.on('drop', (data?: { remoteAddress?: string }) => {
    log.warn(
      { remote: data?.remoteAddress, maxConnections: http.maxConnections },
      'http connection refused: too many connections (http.maxConnections)',
    );
  });
}

/**
 * Fastify's `clientErrorHandler`: a request whose headers or body are late (headersTimeoutMs,
 * requestTimeoutMs) is answered 408, one node cannot parse 400 (431 for headers too large), and closed;
 * logged through the rate-limited `log`.
 */
export function clientErrorHandler(log: LimitedLogger) {
  return (error: NodeJS.ErrnoException, socket: Socket): void => {
    const timeout = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = timeout ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    log.warn(
      { remote: socket.remoteAddress, code: error.code },
      timeout ? 'http request too slow (http.headersTimeoutMs/requestTimeoutMs), closed' : 'bad http request',
    );
    // Destroyed once written: a client that never closes its side does not keep the descriptor.
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      () => socket.destroy(),
    );
  };
}
