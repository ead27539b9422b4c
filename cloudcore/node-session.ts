import type { WebSocket } from 'ws';
import {
  type HubDevice,
  HubKeepalive,
  HubMessage,
  HubState,
  HubTwins,
  hubMessage,
  hubResources,
  MsgTwinMap,
  parseHubResource,
  validatorFor,
} from '../device-models/internal.js';
import type { Logger } from '../sdk/internal.js';

/** A device as the cloud sends it to its node. */
export interface NodeObject {
  key: string;
  resourceVersion: string;
  content: HubDevice;
}

/** What the CloudHub asks of the rest of cloudcore. */
export interface CloudHubHandlers {
  /** Every device the node has now, with its model. */
  devicesOf(node: string): NodeObject[];
  /** The node a device is assigned to (spec.nodeName), if the device exists. */
  nodeOf(key: string): string | undefined;
  /**
   * Resolves once the twins are in Kubernetes; rejects to make the edge resend, except with an error that has a
   * 4xx `status` (the edge drops what is answered with a 4xx).
   */
  twins(key: string, twins: MsgTwinMap): Promise<void>;
  state(key: string, state: HubState): Promise<void>;
}

export interface NodeSessionContext {
  log: Logger;
  handlers: CloudHubHandlers;
  /** An unacknowledged message is sent again after this long. */
  resendMs: number;
  /** What the node said of itself in a keepalive (its outbox depth); one without content is not passed on. */
  keepalive?(content: HubKeepalive): void;
}

const SOURCE = 'cloudhub';
const isMessage = validatorFor(HubMessage);
const isTwins = validatorFor(HubTwins);
const isTwinMap = validatorFor(MsgTwinMap);
const isState = validatorFor(HubState);
const isKeepalive = validatorFor(HubKeepalive);

/**
 * One connected edge node. Cloud → edge: the newest message per object waits in `pending` until the edge
 * answers 200 (it has stored it) or 4xx (it never will), and is sent again every `resendMs` until then; a
 * newer message for the same object replaces an older one. Edge → cloud: the node may report and query only
 * the devices assigned to it (403 otherwise), and gets 200 only once its report is in Kubernetes.
 */
export class NodeSession {
  private readonly pending = new Map<string, { message: HubMessage; sentAt: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly node: string,
    private readonly ws: WebSocket,
    private readonly ctx: NodeSessionContext,
  ) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.refuseRaw('binary frames are not part of this protocol');
      void this.onMessage(data.toString());
    });
    this.timer = setInterval(() => this.resend(), Math.max(50, ctx.resendMs / 2));
    this.timer.unref();
  }

  /** The full state: membership first (so the edge drops what it no longer has), then every device. */
  sendFullState(): void {
    const objects = this.ctx.handlers.devicesOf(this.node);
    const devices = objects.map((o) => ({ key: o.key, resourceVersion: o.resourceVersion }));
    this.send('membership', hubMessage(SOURCE, 'update', hubResources.membership(this.node), { devices }));
    for (const object of objects) this.upsert(object);
  }

  upsert(object: NodeObject): void {
    const resource = hubResources.device(this.node, object.key);
    const message = hubMessage(SOURCE, 'update', resource, object.content, {
      resourceVersion: object.resourceVersion,
    });
    this.send(`device:${object.key}`, message);
  }

  remove(key: string, resourceVersion: string): void {
    const resource = hubResources.device(this.node, key);
    this.send(`device:${key}`, hubMessage(SOURCE, 'delete', resource, {}, { resourceVersion }));
  }

  /** Messages sent and not yet acknowledged. */
  get unacknowledged(): number {
    return this.pending.size;
  }

  close(code = 1000, reason = ''): void {
    clearInterval(this.timer);
    this.ws.close(code, reason);
  }

  /** Destroys the socket at once, without a closing handshake (for a peer that no longer answers). */
  terminate(): void {
    clearInterval(this.timer);
    this.ws.terminate();
  }

  dispose(): void {
    clearInterval(this.timer);
  }

  private send(slot: string, message: HubMessage): void {
    this.pending.set(slot, { message, sentAt: Date.now() });
    this.write(message);
  }

  private write(message: HubMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }

  private resend(): void {
    const due = Date.now() - this.ctx.resendMs;
    for (const entry of this.pending.values()) {
      if (entry.sentAt > due) continue;
      entry.sentAt = Date.now();
      this.write(entry.message);
    }
  }

  private async onMessage(text: string): Promise<void> {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return this.refuseRaw('not JSON');
    }
    if (!isMessage(message)) return this.refuseRaw(`not a hub message: ${isMessage.errors?.[0]?.message}`);
    const { operation } = message.route;
    if (operation === 'keepalive') {
      // An older edge sends none, or other content: only a keepalive that validates is passed on.
      if (isKeepalive(message.content)) this.ctx.keepalive?.(message.content);
      return;
    }
    if (operation === 'response') return this.onResponse(message);
    // A failure that will not go away carries its 4xx `status` (so the edge does not resend it forever); any
    // other is 503, and the edge resends.
    const answer = await this.handle(message).catch((error: Error) => ({
      code: permanentStatus(error) ?? 503,
      reason: `not stored: ${error.message}`,
    }));
    if (answer.code >= 400)
      this.ctx.log.warn(
        { node: this.node, resource: message.route.resource, code: answer.code, reason: answer.reason },
        'edge message refused',
      );
    this.write(
      hubMessage(SOURCE, 'response', message.route.resource, answer, { parent: message.header.msg_id }),
    );
  }

  private onResponse(message: HubMessage): void {
    const parent = message.header.parent_msg_id;
    for (const [slot, entry] of this.pending)
      if (entry.message.header.msg_id === parent) {
        this.pending.delete(slot);
        const code = (message.content as { code?: number } | null)?.code;
        if (code !== 200)
          this.ctx.log.warn(
            { node: this.node, resource: entry.message.route.resource, response: message.content },
            'edge refused a message',
          );
      }
  }

  private async handle(message: HubMessage): Promise<{ code: number; reason?: string } & object> {
    const resource = parseHubResource(message.route.resource);
    if (!resource) return { code: 400, reason: `route.resource: unknown resource ${message.route.resource}` };
    if (resource.node !== this.node)
      return { code: 403, reason: `node ${this.node} cannot act for node ${resource.node}` };
    if (resource.kind === 'membership') return { code: 400, reason: 'membership is sent by the cloud' };
    // The same answer whether the device is another node's or does not exist: a node learns nothing of others.
    if (this.ctx.handlers.nodeOf(resource.key) !== this.node)
      return { code: 403, reason: `device ${resource.key} is not assigned to node ${this.node}` };
    const { operation } = message.route;
    if (resource.kind === 'device' && operation === 'query') {
      const object = this.ctx.handlers.devicesOf(this.node).find((o) => o.key === resource.key);
      return object ? { code: 200, ...object.content } : { code: 404, reason: `no device ${resource.key}` };
    }
    if (resource.kind === 'twin' && operation === 'update') {
      const content = message.content;
      if (!isTwins(content) || !isTwinMap(content.twin))
        return { code: 400, reason: `content.twin: ${(isTwinMap.errors ?? isTwins.errors)?.[0]?.message}` };
      await this.ctx.handlers.twins(resource.key, content.twin as MsgTwinMap);
      return { code: 200 };
    }
    if (resource.kind === 'state' && operation === 'update') {
      if (!isState(message.content)) return { code: 400, reason: `content: ${isState.errors?.[0]?.message}` };
      await this.ctx.handlers.state(resource.key, message.content);
      return { code: 200 };
    }
    return { code: 405, reason: `${operation} is not allowed on ${message.route.resource}` };
  }

  private refuseRaw(reason: string): void {
    this.ctx.log.warn({ node: this.node, reason }, 'malformed message from the edge');
    this.write(hubMessage(SOURCE, 'response', `node/${this.node}`, { code: 400, reason }));
  }
}

/** The 4xx `status` of an error that retrying will not cure (StatusResourceMissing), if it has one. */
function permanentStatus(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}
