import type { EdgeCore } from '../../edgecore/edgecore.js';

/** `url` with a username and password in it, as mqtt.js and EventBus.connect take them. */
export function withCredentials(url: string, account: { username: string; password: string }): string {
  const parsed = new URL(url);
  parsed.username = account.username;
  parsed.password = account.password;
  return parsed.toString().replace(/\/$/, '');
}

/**
 * The embedded broker's URL of a running edgecore, logged in as one of its apps (default `app`, readwrite),
 * for tests whose MQTT clients play a local app. The edge must run with `eventBus.internal.auth: credentials`.
 */
export function appUrl(edge: EdgeCore, name = 'app'): string {
  const account = edge.brokerCredentials?.apps().find((a) => a.username === name);
  if (!account)
    throw new Error(`edgecore has no broker app "${name}" (auth: none, or not in eventBus.internal.apps)`);
  return withCredentials(edge.brokerUrl, account);
}

/** The embedded broker's URL logged in as the mapper of `protocol`, for tests playing an external mapper. */
export function mapperUrl(edge: EdgeCore, protocol: string): string {
  const credentials = edge.brokerCredentials;
  if (!credentials) throw new Error('edgecore runs its broker without credentials (auth: none)');
  return withCredentials(edge.brokerUrl, credentials.mapper(protocol));
}
