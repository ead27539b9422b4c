import { createServer, Socket } from 'node:net';

/** A TCP relay on loopback whose link can be cut and restored, to test what survives a network outage. */
export interface TcpProxy {
  /** `127.0.0.1:{port}`: dial this instead of the target. */
  address: string;
  /** Connections accepted so far. */
  readonly accepted: number;
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
  const server = createServer((client) => {
    accepted++;
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    upstream.connect(target.port, target.host);
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
