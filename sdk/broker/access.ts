/**
 * Who may connect to the embedded broker and what each client may do there. The broker asks it on CONNECT,
 * on each PUBLISH and SUBSCRIBE from a client, and before it forwards a message to a client. The broker's
 * own process (LocalTransport) is never asked: it is the broker.
 */
export interface BrokerAccess<P extends BrokerPrincipal = BrokerPrincipal> {
  /**
   * The principal these credentials name, or undefined to refuse the connection (CONNACK 5 "not authorized"
   * when no username was given, 4 "bad username or password" otherwise). `username` is undefined for an
   * anonymous client.
   */
  authenticate(username: string | undefined, password: Buffer | undefined): P | undefined;
  /** Whether a message this principal publishes on `topic` goes anywhere; refused ones are dropped. */
  canPublish(principal: P, topic: string): boolean;
  /** Whether a subscription with this filter is granted (SUBACK 128 otherwise). */
  canSubscribe(principal: P, filter: string): boolean;
  /** Whether a message on `topic` is forwarded to this principal (a granted wildcard may match more). */
  canRead(principal: P, topic: string): boolean;
}

/** A connected client as the access policy knows it. Two connections are the same principal by `username`. */
export interface BrokerPrincipal {
  /** Who presented the credentials; `''` for an anonymous client. */
  readonly username: string;
  /** A short name for logs, e.g. the role. */
  readonly role: string;
}
