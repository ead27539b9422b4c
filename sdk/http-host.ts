/** Host names an HTTP API answers on any bind and any port: no rebound page can send them. */
export const LOOPBACK_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '::1'];

/**
 * A Host header (or an `allowedHosts` entry), `host[:port]` → lower-case name without brackets or trailing
 * dot, and the port (undefined when absent); undefined when it is not a host name or address. Shared by the
 * DNS-rebinding guards of the edge's and cloudcore's HTTP APIs.
 */
export function parseHost(header: string): { name: string; port: number | undefined } | undefined {
  const match = header.trim().match(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~-]+)(?::(\d{1,5}))?$/);
  if (!match) return undefined;
  const name = match[1]!
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.$/, '');
  return { name, port: match[2] === undefined ? undefined : Number(match[2]) };
}
