import { timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AedesOptions, type AuthenticateError } from 'aedes';
import { type Logger, silentLogger } from '../logger.js';
import { BrokerInterest } from './interest.js';
import { LocalTransport } from './local-transport.js';

/** KubeEdge's internal MQTT port (`mqttMode: internal`). */
export const EMBEDDED_BROKER_PORT = 1884;

export interface EmbeddedBrokerOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 1884, KubeEdge's internal port); 0 picks a free one. */
  port?: number;
  /** When set, clients must present this username and `password`; others get CONNACK code 4. */
  username?: string;
  password?: string;
  log?: Logger;
}

/** A running embedded broker. */
export interface EmbeddedBroker {
  /** `mqtt://host:port`, with the port actually bound. */
  url: string;
  host: string;
  port: number;
  /**
   * A way into the broker from this process with no socket and no MQTT (LocalTransport): give it to
   * EventBus's `transport` option. Once the broker is stopped, an EventBus on it is disconnected.
   */
  localTransport(): LocalTransport;
  /** Closes the listener, every client connection and the broker. Safe to call twice. */
  stop(): Promise<void>;
}

/** CONNACK return code 4 (MQTT 3.1.1): bad user name or password. */
const BAD_USERNAME_OR_PASSWORD = 4;

/**
 * Starts an in-process MQTT 3.1.1 broker (aedes) for the EventBus: KubeEdge's `internal` mode. Rejects if
 * the port cannot be bound (e.g. EADDRINUSE), leaving nothing behind.
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const log = (options.log ?? silentLogger).child({ module: 'broker' });
  const aedesOptions: AedesOptions = {};
  if (options.username !== undefined || options.password !== undefined)
    aedesOptions.authenticate = credentialsCheck(options.username ?? '', options.password ?? '', log);
  const broker = await Aedes.createBroker(aedesOptions);
  broker.on('clientError', (client, error) =>
    log.debug({ client: client.id, err: error.message }, 'client error'),
  );
  broker.on('connectionError', (client, error) =>
    log.debug({ client: client.id, err: error.message }, 'connection error'),
  );

  const interest = new BrokerInterest(broker);
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    // Small packets, one at a time (a delta, then its result): Nagle's delay would hold each for tens of ms.
    socket.setNoDelay(true);
    socket.once('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  const closeBroker = () => new Promise<void>((resolve) => broker.close(() => resolve()));
  try {
    await listen(server, options.port ?? EMBEDDED_BROKER_PORT, host);
  } catch (error) {
    await closeBroker();
    throw error;
  }
  server.on('error', (error) => log.error({ err: error.message }, 'broker listener error'));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const url = `mqtt://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log.info({ url }, 'embedded MQTT broker listening');

  let stopping: Promise<void> | undefined;
  const stop = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await closeBroker();
    for (const socket of sockets) socket.destroy();
    await closed;
    await new Promise(setImmediate); // the listener's handle is released just after its close callback
    log.info({ url }, 'embedded MQTT broker stopped');
  };
  return {
    url,
    host,
    port,
    localTransport: () => new LocalTransport(broker, interest),
    stop() {
      stopping ??= stop();
      return stopping;
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function credentialsCheck(username: string, password: string, log: Logger): AedesOptions['authenticate'] {
  return (client, givenUser, givenPassword, done) => {
    const ok =
      sameBytes(Buffer.from(givenUser ?? ''), Buffer.from(username)) &&
      sameBytes(givenPassword ?? Buffer.alloc(0), Buffer.from(password));
    if (ok) return done(null, true);
    log.warn({ client: client.id, username: givenUser }, 'MQTT client refused: bad username or password');
    const error = new Error('bad username or password') as AuthenticateError;
    error.returnCode = BAD_USERNAME_OR_PASSWORD as AuthenticateError['returnCode'];
    done(error, false);
  };
}

/** Constant-time comparison, so that the time taken does not tell how much of a secret was right. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
