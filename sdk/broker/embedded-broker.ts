import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AedesOptions, type AuthenticateError, type Client } from 'aedes';
import { type Logger, silentLogger } from '../logger.js';
import type { BrokerAccess, BrokerPrincipal } from './access.js';
import { sameSecret } from './event-bus-acl.js';
import { BrokerInterest } from './interest.js';
import { LocalTransport } from './local-transport.js';
import { guardPacketSize, MQTT_MAX_PACKET_SIZE } from './packet-guard.js';
import { RateLimitedLog } from './rate-limited-log.js';

/** KubeEdge's internal MQTT port (`mqttMode: internal`). */
export const EMBEDDED_BROKER_PORT = 1884;

/** Where an embedded broker listens, and who may use it. */
export interface EmbeddedBrokerOptions {
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 1884, KubeEdge's internal port); 0 picks a free one. */
  port?: number;
  /**
   * When set (and `access` is not), clients must present this username and `password`; others get CONNACK
   * code 4. Such a client may do anything but publish `$SYS/…`.
   */
  username?: string;
  password?: string;
  /**
   * Who may connect and what each client may publish, subscribe to and receive (edgecore passes the EventBus
   * roles of `eventBusAcl`). A refused publish is dropped (QoS 1 still gets its PUBACK, as mosquitto does) and
   * the connection stays; a refused subscription gets SUBACK 128. A second connection with the client id of
   * a connected client of another principal is refused (CONNACK 2), so no client can push another off.
   */
  access?: BrokerAccess;
  /**
   * Largest MQTT packet a client may send, bytes (default: MQTT's own limit, 256 MiB). A larger one closes
   * that connection as soon as its header arrives, before its body is buffered.
   */
  maxPacketSize?: number;
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

/** CONNACK return codes (MQTT 3.1.1). */
const IDENTIFIER_REJECTED = 2;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

/**
 * Starts an in-process MQTT 3.1.1 broker (aedes) for the EventBus: KubeEdge's `internal` mode. Rejects if
 * the port cannot be bound (e.g. EADDRINUSE), leaving nothing behind.
 */
export async function startEmbeddedBroker(options: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = options.host ?? '127.0.0.1';
  const log = (options.log ?? silentLogger).child({ module: 'broker' });
  const access =
    options.access ??
    (options.username !== undefined || options.password !== undefined
      ? singleAccount(options.username ?? '', options.password ?? '')
      : undefined);
  // With `username`/`password` alone, an anonymous client gets 4 as any wrong login (as it always has).
  const guard = access
    ? new AccessGuard(access, log, options.access ? NOT_AUTHORIZED : BAD_USERNAME_OR_PASSWORD)
    : undefined;
  const broker = await Aedes.createBroker({
    ...guard?.hooks(),
    authorizePublish: (client, packet, done) => {
      const refused = invalidTopic(packet.topic);
      if (refused) return done(new Error(refused)); // closes the connection
      if (packet.topic.startsWith('$SYS/')) return done(new Error('$SYS/ topic is reserved'));
      if (guard && client && !guard.mayPublish(client, packet.topic)) guard.drop(packet);
      done(null);
    },
  });
  if (guard) guard.install(broker);
  const maxPacketSize = options.maxPacketSize ?? MQTT_MAX_PACKET_SIZE;
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
    guardPacketSize(socket, maxPacketSize, (size) =>
      log.warn(
        {
          remote: socket.remoteAddress,
          client: (socket as { client?: Client }).client?.id,
          size,
          maxPacketSize,
        },
        size === undefined
          ? 'malformed MQTT packet length; connection closed'
          : 'MQTT packet too large; connection closed',
      ),
    );
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

/** Why `topic` is not a valid MQTT topic to publish on (aedes itself refuses empty ones and wildcards). */
function invalidTopic(topic: string): string | undefined {
  if (topic.includes('\u0000')) return 'NUL is not allowed in a topic';
  return undefined;
}

/** The `username`/`password` option: one account that may do anything (but `$SYS/`). */
function singleAccount(username: string, password: string): BrokerAccess {
  const user: BrokerPrincipal = { username, role: 'user' };
  return {
    authenticate: (givenUser, givenPassword) =>
      sameSecret(Buffer.from(givenUser ?? ''), Buffer.from(username)) &&
      sameSecret(givenPassword ?? Buffer.alloc(0), Buffer.from(password))
        ? user
        : undefined,
    canPublish: () => true,
    canSubscribe: () => true,
    canRead: () => true,
  };
}

/** The aedes hooks of a `BrokerAccess`: who each client is, and what it may do. */
class AccessGuard {
  private readonly principals = new WeakMap<Client, BrokerPrincipal>();
  /** Publishes refused by the ACL: acknowledged, then not published (see `install`). */
  private readonly dropped = new WeakSet<object>();
  private readonly refusals: RateLimitedLog;

  constructor(
    private readonly access: BrokerAccess,
    private readonly log: Logger,
    /** CONNACK code for a client that gave no username. */
    private readonly anonymousRefusal: number,
  ) {
    this.refusals = new RateLimitedLog(log);
  }

  hooks(): Pick<AedesOptions, 'authenticate' | 'authorizeSubscribe' | 'authorizeForward'> {
    return {
      authenticate: (client, username, password, done) => {
        const principal = this.access.authenticate(username, password);
        if (!principal) {
          this.log.warn({ client: client.id, username }, 'MQTT client refused: bad username or password');
          return done(
            refusal(username === undefined ? this.anonymousRefusal : BAD_USERNAME_OR_PASSWORD),
            false,
          );
        }
        // MQTT lets a new connection with a client id take over the old one: only the same principal may.
        const clients = (this.broker as { clients?: Record<string, Client> } | undefined)?.clients;
        const holder = client.id ? clients?.[client.id] : undefined;
        const held = holder ? this.principals.get(holder) : undefined;
        if (holder && held?.username !== principal.username) {
          this.log.warn(
            { client: client.id, username, holder: held?.username },
            'MQTT client refused: its client id is connected with other credentials',
          );
          return done(refusal(IDENTIFIER_REJECTED), false);
        }
        this.principals.set(client, principal);
        done(null, true);
      },
      authorizeSubscribe: (client, subscription, done) => {
        if (subscription.topic.includes('\u0000'))
          return done(new Error('NUL is not allowed in a filter'), null);
        const principal = client ? this.principals.get(client) : undefined;
        if (principal && this.access.canSubscribe(principal, subscription.topic))
          return done(null, subscription);
        this.refusals.debug(
          { client: client?.id, role: principal?.role, filter: subscription.topic },
          'subscription refused',
        );
        done(null, null);
      },
      authorizeForward: (client, packet) => {
        const principal = this.principals.get(client);
        return principal && this.access.canRead(principal, packet.topic) ? packet : null;
      },
    };
  }

  private broker?: Aedes;

  /** Publishes refused by `mayPublish` are acknowledged as usual, then go nowhere, not even in-process. */
  install(broker: Aedes): void {
    this.broker = broker;
    // aedes's publish(packet, client, done) from a client's PUBLISH, publish(packet, done) from in-process.
    type Publish = (packet: object, client: unknown, done?: (error?: Error) => void) => void;
    const publish = (broker.publish as unknown as Publish).bind(broker);
    const guarded: Publish = (packet, client, done) => {
      if (typeof client === 'function' || !this.dropped.has(packet)) return publish(packet, client, done);
      done?.();
    };
    broker.publish = guarded as unknown as Aedes['publish'];
  }

  mayPublish(client: Client, topic: string): boolean {
    const principal = this.principals.get(client);
    if (principal && this.access.canPublish(principal, topic)) return true;
    this.refusals.debug({ client: client.id, role: principal?.role, topic }, 'publish refused; dropped');
    return false;
  }

  drop(packet: object): void {
    this.dropped.add(packet);
  }
}

function refusal(returnCode: number): AuthenticateError {
  const error = new Error(
    returnCode === IDENTIFIER_REJECTED ? 'client id in use' : 'not authorized',
  ) as AuthenticateError;
  error.returnCode = returnCode as AuthenticateError['returnCode'];
  return error;
}
