import { isIP } from 'node:net';
import { LOOPBACK_HOSTS, parseHost } from '../sdk/internal.js';

const LOOPBACK = new Set(LOOPBACK_HOSTS);

/**
 * The DNS-rebinding guard of the dashboard API (the rule of the edge's HTTP API, which cloudcore may not
 * import): a browser page of another site, its name rebound to this address, must not read devices or set
 * desired values. Answered are: the loopback names on any port (what `kubectl port-forward` and SSH tunnels
 * give; a rebound page cannot send them), the bind host and the IP address the client connected to on the
 * port listened on, and `allowedHosts` (`name`: any port, `name:port`: that one; `*` turns the check off).
 * Returns why a Host is refused, or undefined.
 */
export function hostGuard(
  bindHost: string,
  allowedHosts: readonly string[],
  port: () => number,
): (header: string | undefined, localAddress: string | undefined) => string | undefined {
  const own = parseHost(bindHost)?.name ?? bindHost.toLowerCase();
  const off = allowedHosts.includes('*');
  const anyPort = new Set<string>();
  const exact = new Set<string>();
  for (const entry of allowedHosts) {
    const host = parseHost(entry);
    if (host?.port === undefined) anyPort.add(host?.name ?? entry);
    else exact.add(`${host.name}:${host.port}`);
  }
  const accepts = (host: { name: string; port: number | undefined }, local: string | undefined) => {
    if (LOOPBACK.has(host.name) || anyPort.has(host.name)) return true;
    if (exact.has(`${host.name}:${host.port ?? 80}`)) return true;
    if (host.port !== undefined && host.port !== port()) return false;
    if (host.name === own) return true;
    const address = local?.replace(/^::ffff:(?=\d+\.)/, '').toLowerCase();
    return isIP(host.name) !== 0 && address === host.name;
  };
  return (header, localAddress) => {
    if (off || header === undefined) return undefined;
    const host = parseHost(header);
    if (host && accepts(host, localAddress)) return undefined;
    return `Host "${header}" is not served here (DNS rebinding guard): add it with --dashboard-allowed-host`;
  };
}
