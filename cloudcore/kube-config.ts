import { Agent, type AgentOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { KubeConfig, type RequestContext } from '@kubernetes/client-node';

/** The TLS options client-node puts on the agent it makes for each request: the same for a shared one. */
const TLS_FIELDS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

/**
 * A KubeConfig whose API requests share one HTTPS agent. client-node (1.x) makes a new agent for every request,
 * so every request is a new TLS connection with a full handshake (measured: ~12 % of a replica's CPU at a
 * fleet's status-write rate). The shared agent keeps the server's TLS session tickets, so each new connection
 * resumes a session (an abbreviated handshake). Connections are not kept alive between requests: with
 * keep-alive, client-node's fetch failed server-side applies with "Premature close" on reused sockets. Other
 * credentials (a rotated client certificate, read again from its file) make a new agent; proxied and plain-HTTP
 * clusters keep client-node's own agents.
 */
export class SharedAgentKubeConfig extends KubeConfig {
  private shared?: { options: AgentOptions; agent: Agent };
  /** TLS connections opened to the API server, and how many of them resumed a session. */
  readonly tls = { connections: 0, resumed: 0 };

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getAgent();
    if (!(made instanceof Agent)) return;
    const options = (made as Agent & { options: AgentOptions }).options;
    // By content: client-node reads certificate files again for each request, into new Buffers.
    if (!this.shared || !TLS_FIELDS.every((field) => same(this.shared!.options[field], options[field])))
      this.shared = { options, agent: this.agentWith(options) };
    context.setAgent(this.shared.agent);
  }

  private agentWith(options: AgentOptions): Agent {
    const agent = new Agent({ ...options, keepAlive: false });
    const create = agent.createConnection.bind(agent) as (...args: unknown[]) => Duplex;
    agent.createConnection = ((...args: unknown[]) => {
      const socket = create(...args) as TLSSocket;
      socket.once('secureConnect', () => {
        this.tls.connections++;
        if (socket.isSessionReused()) this.tls.resumed++;
      });
      return socket;
    }) as Agent['createConnection'];
    return agent;
  }
}

/** The same TLS option: equal Buffers (compared in place), lists of equal items, or the same value. */
function same(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((item, i) => same(item, b[i]));
  return a === b;
}
