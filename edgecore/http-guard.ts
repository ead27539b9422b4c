import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { LOOPBACK_HOSTS as LOOPBACK, parseHost } from '../sdk/internal.js';

/** An HTTP answer refused before routing: status, reason and extra fields of the JSON error. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

export { parseHost };

/**
 * The DNS-rebinding guard: which Host headers the API answers. Served are the loopback names and the bind
 * host (with no port or the port listened on), the IP address the client connected to (a browser sends an
 * IP literal only for a page of that very address, so it cannot be rebound), and `allowedHosts` entries
 * (`name`: any port; `name:port`: that one). `*` in `allowedHosts` turns the check off. A request without
 * Host is served: HTTP/1.1 requires one (node answers 400 without), and no browser sends an HTTP/1.0
 * request without it, so such a request never comes from a rebound page.
 */
export class HostCheck {
  private readonly own: Set<string>;
  private readonly anyPort = new Set<string>();
  private readonly exact = new Set<string>();
  private readonly off: boolean;

  constructor(
    bindHost: string,
    allowed: readonly string[],
    private readonly port: () => number,
  ) {
    this.own = new Set([...LOOPBACK, parseHost(bindHost)?.name ?? bindHost.toLowerCase()]);
    this.off = allowed.includes('*');
    for (const entry of allowed) {
      const host = parseHost(entry);
      if (!host) continue;
      if (host.port === undefined) this.anyPort.add(host.name);
      else this.exact.add(`${host.name}:${host.port}`);
    }
  }

  /** Throws 421 naming the host when the request's Host is not one this API answers to. */
  check(request: IncomingMessage): void {
    const header = request.headers.host;
    if (this.off || header === undefined) return;
    const host = parseHost(header);
    if (host && this.accepts(host, request.socket.localAddress)) return;
    throw new HttpError(
      421,
      `Host "${header}" is not served here (DNS rebinding guard); add it to http.allowedHosts in edge.yaml to allow it`,
      { host: header },
    );
  }

  private accepts(host: { name: string; port: number | undefined }, local: string | undefined): boolean {
    if (this.anyPort.has(host.name) || this.exact.has(`${host.name}:${host.port ?? 80}`)) return true;
    if (host.port !== undefined && host.port !== this.port()) return false;
    if (this.own.has(host.name)) return true;
    // The address the client connected to, as an IP literal (IPv4-mapped IPv6 shown as IPv4).
    const address = local?.replace(/^::ffff:(?=\d+\.)/, '');
    return isIP(host.name) !== 0 && address !== undefined && address.toLowerCase() === host.name;
  }
}

/**
 * The path of a request target split into decoded segments. Bad percent-encoding in a segment or in the
 * query (`%`, `%zz`, `%ff` that is no UTF-8) is a 400 naming it, not a 500.
 */
export function pathSegments(target: string | undefined): { path: string; segments: string[] } {
  const raw = target ?? '/';
  const query = raw.indexOf('?');
  const path = query < 0 ? raw : raw.slice(0, query);
  if (!path.startsWith('/')) throw new HttpError(400, `request target must be a path (got "${raw}")`);
  if (query >= 0)
    for (const part of raw.slice(query + 1).split(/[&=]/)) decodeOrThrow(part.replaceAll('+', ' '), 'query');
  const segments = path
    .split('/')
    .filter(Boolean)
    .map((segment) => decodeOrThrow(segment, 'path segment'));
  return { path, segments };
}

function decodeOrThrow(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HttpError(400, `bad percent-encoding in ${what} "${text}"`, { segment: text });
  }
}

/**
 * Throws pathSegments' 400 for a request target that is no path or holds bad percent-encoding; a plain path
 * (the usual case) is not decoded here: with no `%` there is nothing that could fail.
 */
export function checkTarget(target: string | undefined): void {
  if (target !== undefined && (target.charCodeAt(0) !== 0x2f || target.includes('%'))) pathSegments(target);
}
