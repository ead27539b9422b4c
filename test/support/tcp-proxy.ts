import { createServer, Socket } from 'node:net';

/** A TCP relay on loopback whose link can be cut and restored, to test what survives a network outage. */
export interface TcpProxy {
  /** `127.0.0.1:{port}`: dial this instead of the target. */
  address: string;
  /** Connections accepted so far. */
  readonly accepted: number;
  /**
   * The most requests that were ever in flight through the proxy at once, for a client that sends one request
   * per connection: each connection counts from its first byte up until the last record its server sent back
   * (a TLS alert alone, such as the close_notify after the answer, does not count).
   */
  mostInFlight(): number;
  /** Drops every connection, and every new one until restore(). */
  cut(): void;
  restore(): void;
  /** Relays new connections to another target (a restarted server on a new port); open ones stay as they are. */
  retarget(target: { host: string; port: number }): void;
  close(): Promise<void>;
}

export async function startTcpProxy(initial: { host: string; port: number }): Promise<TcpProxy> {
  let target = { ...initial };
  const sockets = new Set<Socket>();
  let cut = false;
  let accepted = 0;
  /** Per connection: when the client first sent, and when the server last answered (performance.now()). */
  const spans: { from?: number; to?: number }[] = [];
  const server = createServer((client) => {
    accepted++;
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    upstream.connect(target.port, target.host);
    const span: { from?: number; to?: number } = {};
    spans.push(span);
    client.once('data', () => {
      span.from = performance.now();
    });
    // Not a TLS alert alone (24 bytes: the close_notify a server sends as it closes, after the answer).
    upstream.on('data', (chunk: Buffer) => {
      if (chunk.length > 64) span.to = performance.now();
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    mostInFlight() {
      const edges = spans
        .filter((span) => span.from !== undefined && span.to !== undefined)
        .flatMap((span) => [
          [span.from!, 1],
          [span.to!, -1],
        ])
        // At the same instant, an end before a start: back to back is not overlapping.
        .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
      let open = 0;
      let most = 0;
      for (const [, step] of edges) {
        open += step!;
        most = Math.max(most, open);
      }
      return most;
    },
    cut() {
      cut = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      cut = false;
    },
    retarget(next) {
      target = { ...next };
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
