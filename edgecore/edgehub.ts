import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { WebSocket } from 'ws';
import {
  HubDevice,
  type HubKeepalive,
  HubMembership,
  HubMessage,
  type HubResponse,
  type HubState,
  hubMessage,
  hubResources,
  type MsgTwinMap,
  parseHubResource,
  validatorFor,
} from '../device-models/internal.js';
import { backoffDelay, type Logger } from '../sdk/internal.js';
import type { TwinStore } from '../twin/store.js';
import type { CloudMetadata } from './cloud-metadata.js';
import { cloudServers, type EdgeConfig } from './config.js';

export interface EdgeHubContext {
  config: EdgeConfig;
  store: TwinStore;
  log: Logger;
  metadata: CloudMetadata;
  /**
   * An unacknowledged report is sent again after this long, ms (default 5 000), then after twice as long each
   * time until the cloud takes it, up to 12 times as long (a minute by default); each delay is drawn ±20 %.
   */
  resendMs?: number;
  /** Source of randomness for the resend jitter, [0, 1) (default Math.random). */
  random?: () => number;
}

const SOURCE = 'edgehub';
const OUTBOX_BATCH = 1000;
/** Resends back off to at most this many resendMs (a minute with the default 5 s). */
const RESEND_CAP = 12;
const isMessage = validatorFor(HubMessage);
const isDevice = validatorFor(HubDevice);
const isMembership = validatorFor(HubMembership);

/**
 * edgecore's end of the cloud link (DESIGN.md §6): a WebSocket over TLS to cloudcore's CloudHub with this
 * node's certificate, reconnected with capped backoff, and dropped when the hub's pings stop. With several
 * cloudcore replicas (`cloud.servers`) it starts at one picked at random and each reconnect goes to the next in
 * turn, the backoff growing once every replica has been tried; whichever replica it reaches sends the node's
 * full device list first, and the outbox is sent again from its start, so a replica lost costs neither a
 * report nor a device change. Each connect and each ping of the hub is answered with a keepalive carrying
 * the outbox depth.
 * Cloud → edge: devices are applied and stored (CloudMetadata) before the 200 goes back.
 * Edge → cloud: twin syncs come from the store's persistent outbox (one record per device, the newest state
 * of each twin, so a report made while disconnected, or before a restart, is sent once connected) and leave
 * it only when the cloud answers 200 (in Kubernetes) or a 4xx other than 429 (never will be); device states are
 * sent on change and all again on each connect. What the cloud does not take (no answer, 5xx, 429) is sent
 * again with capped exponential backoff and jitter, so that a slow cloud is not sent every report again every
 * few seconds by every edge: after resendMs, 2×, 4×… up to RESEND_CAP × resendMs, each ±20 %; the outbox
 * starts again from resendMs once the cloud takes a batch of it, and everything does on each connect (which
 * sends all at once, as before). Emits `connected` and `disconnected`.
 */
export class EdgeHub extends EventEmitter {
  private ws?: WebSocket;
  /** The cloudcore addresses, and the index of the one dialled now (or next). */
  private servers: string[] = [];
  private next = 0;
  private attempt = 0;
  private reconnectTimer?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private resendTimer?: NodeJS.Timeout;
  /** When resendTimer fires (undefined: not armed). */
  private resendAt?: number;
  private stopped = false;
  /** Outbox records in flight, by message id: sent again, all of them, at outboxDueAt. */
  private readonly inFlight = new Map<string, number[]>();
  private outboxDueAt = 0;
  /** Times the outbox was sent again since the cloud last took a batch of it (or since connecting). */
  private outboxTries = 0;
  /** Device states not yet acknowledged, by device id; each sent again at its dueAt, after `tries` resends. */
  private readonly states = new Map<string, PendingState>();
  private pumpQueued = false;
  /**
   * The devices the cloud lists for this node (its membership message, sent first on each connect); until it
   * has come, the outbox of a device the cloud has not sent yet is kept, not dropped.
   */
  private listed?: ReadonlySet<string>;
  /** Cloud messages are applied one after the other. */
  private applying: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: EdgeHubContext) {
    super();
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** The cloudcore address of the link that is up (or being dialled). */
  get server(): string | undefined {
    return this.ws ? this.servers[this.next] : undefined;
  }

  start(): void {
    this.stopped = false;
    this.servers = cloudServers(this.ctx.config.cloud);
    this.next = Math.floor(Math.random() * this.servers.length);
    this.attempt = 0;
    this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.clearTimers();
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      const closed = new Promise((resolve) => ws.once('close', resolve));
      ws.terminate();
      await closed;
    }
  }

  /** The twin module queued a cloud-bound sync. */
  notifyOutbox(): void {
    if (this.pumpQueued || !this.connected) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** A device changed state. */
  notifyState(id: string, state: string, lastOnlineTime?: string): void {
    if (!this.ctx.metadata.has(id)) return;
    this.states.set(id, pendingState(state, lastOnlineTime));
    this.sendState(id);
  }

  private connect(): void {
    const { cloud, nodeName } = this.ctx.config;
    const log = this.ctx.log;
    const server = this.servers[this.next]!;
    let ws: WebSocket;
    try {
      ws = new WebSocket(`wss://${server}/edge`, {
        ca: readFileSync(cloud.caFile),
        cert: readFileSync(cloud.certFile),
        key: readFileSync(cloud.keyFile),
        handshakeTimeout: 10_000,
        maxPayload: 16 << 20,
      });
    } catch (error) {
      log.error(
        { cloud: server, err: (error as Error).message },
        'cannot connect to cloudcore (run edgetwin join first?)',
      );
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.on('open', () => {
      this.attempt = 0;
      log.info({ cloud: server, node: nodeName }, 'connected to cloudcore');
      this.armWatchdog();
      this.onConnected();
      this.emit('connected', server);
    });
    ws.on('ping', () => {
      this.armWatchdog();
      this.sendKeepalive();
    });
    ws.on('message', (data) => {
      this.armWatchdog();
      void this.onMessage(data.toString());
    });
    ws.on('unexpected-response', (_req, res) => {
      log.error({ cloud: server, status: res.statusCode }, 'cloudcore refused this node (certificate?)');
      ws.terminate();
    });
    ws.on('error', (error) => log.warn({ cloud: server, err: error.message }, 'cloud link error'));
    ws.on('close', (code, reason) => {
      const wasOpen = this.watchdog !== undefined;
      this.clearTimers();
      if (this.ws === ws) this.ws = undefined;
      if (wasOpen) {
        log.info({ cloud: server, code, reason: reason.toString() }, 'disconnected from cloudcore');
        this.emit('disconnected', server);
      }
      if (!this.stopped) this.scheduleReconnect();
    });
  }

  /**
   * The next replica in turn, after a backoff that grows once per round: with several replicas, losing one
   * costs one short delay before the next is dialled.
   */
  private scheduleReconnect(): void {
    this.next = (this.next + 1) % this.servers.length;
    const round = Math.floor(this.attempt++ / this.servers.length);
    const delay = backoffDelay(round, {
      initialMs: 250,
      maxMs: this.ctx.config.cloud.reconnectMaxSeconds * 1000,
    });
    this.ctx.log.debug({ delay, cloud: this.servers[this.next] }, 'reconnecting to cloudcore');
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  /** Tells the hub how this node is doing (the outbox depth); a hub that knows no keepalive content ignores it. */
  private sendKeepalive(): void {
    if (!this.connected) return;
    const content: HubKeepalive = { outboxDepth: this.ctx.store.outboxDepth() };
    this.send(hubMessage(SOURCE, 'keepalive', hubResources.keepalive(this.ctx.config.nodeName), content));
  }

  /** No ping or message for three keepalive periods: the link is dead even if TCP does not know yet. */
  private armWatchdog(): void {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(
      () => {
        this.ctx.log.warn('no keepalive from cloudcore; reconnecting');
        this.ws?.terminate();
      },
      3 * this.ctx.config.cloud.keepaliveSeconds * 1000,
    );
  }

  private clearTimers(): void {
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    clearTimeout(this.resendTimer);
    this.resendAt = undefined;
    this.inFlight.clear();
  }

  private onConnected(): void {
    this.listed = undefined;
    this.outboxTries = 0;
    for (const device of this.ctx.store.devices())
      if (this.ctx.metadata.has(device.id) && device.state)
        this.states.set(device.id, pendingState(device.state, device.lastOnline));
    for (const [id, entry] of this.states) {
      entry.tries = 0;
      this.sendState(id);
    }
    this.pump();
    this.sendKeepalive();
  }

  /** Sends the outbox, one message per device, when nothing of it is in flight. */
  private pump(): void {
    if (!this.connected || this.inFlight.size > 0) return;
    const records = this.ctx.store.outbox(OUTBOX_BATCH);
    const byDevice = new Map<string, { twin: MsgTwinMap; seqs: number[] }>();
    const dropped: number[] = [];
    for (const record of records) {
      // A device the cloud does not list (standalone YAML only) has nowhere to go; one it lists but has not
      // sent yet (a device of the directory the cloud now assigns here, after edgetwin join) waits for it.
      if (!this.ctx.metadata.has(record.deviceId)) {
        if (this.listed && !this.listed.has(record.deviceId)) dropped.push(record.seq);
        continue;
      }
      const entry = byDevice.get(record.deviceId) ?? { twin: {}, seqs: [] };
      // A spread defines own properties, so a twin named `__proto__` stays a plain key.
      entry.twin = { ...entry.twin, ...record.twins };
      entry.seqs.push(record.seq);
      byDevice.set(record.deviceId, entry);
    }
    if (dropped.length > 0) this.ctx.store.ackOutbox(dropped);
    if (records.length > 0)
      this.ctx.log.debug(
        { records: records.length, devices: byDevice.size, dropped: dropped.length },
        'outbox sent',
      );
    if (byDevice.size > 0) this.outboxDueAt = this.resendDue(this.outboxTries);
    for (const [id, { twin, seqs }] of byDevice) {
      const message = hubMessage(SOURCE, 'update', hubResources.twin(this.ctx.config.nodeName, id), { twin });
      this.inFlight.set(message.header.msg_id, seqs);
      this.send(message);
    }
    if (byDevice.size === 0 && dropped.length > 0 && records.length === OUTBOX_BATCH) this.notifyOutbox();
  }

  /** A device the cloud now holds that may have run here before (from devices.dirs): its outbox and state go. */
  private newlyHeld(id: string): void {
    const device = this.ctx.store.devices().find((d) => d.id === id);
    if (device?.state) this.states.set(id, pendingState(device.state, device.lastOnline));
    this.sendState(id);
    this.notifyOutbox();
  }

  private sendState(id: string): void {
    const entry = this.states.get(id);
    if (!entry || !this.connected) return;
    const resource = hubResources.state(this.ctx.config.nodeName, id);
    const message = hubMessage(SOURCE, 'update', resource, entry.state);
    entry.msgId = message.header.msg_id;
    entry.dueAt = this.resendDue(entry.tries);
    this.send(message);
  }

  /** When something sent now, after `tries` resends already, is sent again unless acknowledged; arms the timer. */
  private resendDue(tries: number): number {
    const resendMs = this.ctx.resendMs ?? 5000;
    const delay = backoffDelay(tries, { initialMs: resendMs, maxMs: RESEND_CAP * resendMs }, this.ctx.random);
    const at = Date.now() + delay;
    this.armResend(at);
    return at;
  }

  /** One timer for every resend: it fires at the earliest due time. */
  private armResend(at: number): void {
    if (this.resendAt !== undefined && this.resendAt <= at) return;
    clearTimeout(this.resendTimer);
    this.resendAt = at;
    this.resendTimer = setTimeout(
      () => {
        this.resendAt = undefined;
        this.resend();
      },
      Math.max(0, at - Date.now()),
    );
  }

  /** Sends again what is due (the whole outbox in flight, or a state), each with the next, longer delay. */
  private resend(): void {
    const now = Date.now();
    if (this.inFlight.size > 0 && this.outboxDueAt <= now) {
      this.outboxTries++;
      this.inFlight.clear();
      this.pump();
    }
    for (const [id, entry] of this.states)
      if (entry.dueAt <= now) {
        entry.tries++;
        this.sendState(id);
      }
    // What is not due yet keeps the timer armed.
    if (!this.connected) return;
    if (this.inFlight.size > 0) this.armResend(this.outboxDueAt);
    for (const entry of this.states.values()) if (entry.msgId) this.armResend(entry.dueAt);
  }

  private send(message: HubMessage): void {
    this.ws?.send(JSON.stringify(message));
  }

  private async onMessage(text: string): Promise<void> {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      this.ctx.log.warn('malformed message from cloudcore: not JSON');
      return;
    }
    if (!isMessage(message)) {
      this.ctx.log.warn({ err: isMessage.errors?.[0]?.message }, 'malformed message from cloudcore');
      return;
    }
    if (message.route.operation === 'response') return this.onResponse(message);
    if (message.route.operation === 'keepalive') return;
    // One at a time, in arrival order: two versions of a device must not be applied interleaved.
    const handled = this.applying.then(() => this.handle(message));
    this.applying = handled.then(
      () => {},
      () => {},
    );
    const answer = await handled.catch(
      (error: Error): HubResponse => ({ code: 500, reason: `not applied: ${error.message}` }),
    );
    if (answer.code >= 400)
      this.ctx.log.warn({ resource: message.route.resource, ...answer }, 'cloud message refused');
    this.send(
      hubMessage(SOURCE, 'response', message.route.resource, answer, { parent: message.header.msg_id }),
    );
  }

  private handle(message: HubMessage): Promise<HubResponse> {
    const resource = parseHubResource(message.route.resource);
    const { operation } = message.route;
    const { metadata, config } = this.ctx;
    if (!resource || resource.node !== config.nodeName)
      return Promise.resolve({
        code: 400,
        reason: `route.resource: not for this node: ${message.route.resource}`,
      });
    if (resource.kind === 'membership' && operation === 'update') {
      if (!isMembership(message.content))
        return Promise.resolve({ code: 400, reason: `content: ${isMembership.errors?.[0]?.message}` });
      const keys = message.content.devices.map((d) => d.key);
      return metadata.membership(keys).then((answer) => {
        this.listed = new Set(keys);
        this.notifyOutbox();
        return answer;
      });
    }
    if (resource.kind === 'device' && (operation === 'insert' || operation === 'update')) {
      if (!isDevice(message.content))
        return Promise.resolve({ code: 400, reason: `content: ${isDevice.errors?.[0]?.message}` });
      const { key } = resource;
      const known = metadata.has(key);
      return metadata.upsert(key, message.header.resourceversion ?? '0', message.content).then((answer) => {
        if (!known && metadata.has(key)) this.newlyHeld(key);
        return answer;
      });
    }
    if (resource.kind === 'device' && operation === 'delete') return metadata.remove(resource.key);
    return Promise.resolve({ code: 405, reason: `${operation} is not handled on ${message.route.resource}` });
  }

  private onResponse(message: HubMessage): void {
    const parent = message.header.parent_msg_id ?? '';
    const code = (message.content as { code?: number } | null)?.code ?? 0;
    // 429 (too many requests) is the cloud asking for time, not refusing: sent again, as a 5xx is.
    const done = code === 200 || (code >= 400 && code < 500 && code !== 429);
    if (code !== 200) this.ctx.log.warn({ response: message.content }, 'cloudcore did not take a report');
    const seqs = this.inFlight.get(parent);
    if (seqs) {
      // Not done (the cloud could not write it yet): stays in flight, so it is sent again, later each time.
      if (!done) return;
      this.ctx.store.ackOutbox(seqs);
      this.inFlight.delete(parent);
      this.outboxTries = 0;
      if (this.inFlight.size === 0) this.notifyOutbox();
      return;
    }
    for (const [id, entry] of this.states) if (entry.msgId === parent && done) this.states.delete(id);
  }
}

/** A device state waiting for the cloud's 200: its message id once sent, and when it is sent again. */
interface PendingState {
  state: HubState;
  msgId?: string;
  tries: number;
  dueAt: number;
}

function pendingState(state: string, lastOnlineTime?: string): PendingState {
  return { state: { state, ...(lastOnlineTime ? { lastOnlineTime } : {}) }, tries: 0, dueAt: 0 };
}
