import type { Logger } from '../sdk/index.js';
import { HttpError } from './http-guard.js';
import { type DeviceViews, twinViews } from './http-views.js';
import type { TwinEvent, TwinModule } from './twin-module.js';

/** Bounds of the event streams. */
export interface EventStreamOptions {
  /** Bytes a client may leave unread (beyond its `hello`) before it is dropped; default 1 MiB. */
  maxBuffered?: number;
  /** How often an idle stream gets a comment line, ms; default 15 000. */
  heartbeatMs?: number;
  /** Streams open at once; one more is answered 503. */
  maxClients: number;
}

/** Where a stream goes: the response of the request (its head written; a ServerResponse), or any Writable. */
export interface EventSink {
  write(text: string): boolean;
  end(): unknown;
  destroy(): unknown;
  readonly destroyed: boolean;
  readonly writableLength: number;
  once(event: 'close', listener: () => void): unknown;
}

/** The head of an event stream's response. */
export const EVENT_STREAM_HEAD = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
} as const;

interface Client {
  response: EventSink;
  /** Only this device's events (`namespace/name`), or all. */
  device: string | undefined;
  /** writableLength past which the client is dropped. */
  limit: number;
}

/** One Server-Sent Event: JSON never holds a raw newline, so `data` is one line. */
const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * GET /api/v1/events: twin and state changes as Server-Sent Events. A stream opens with `hello` (the devices
 * as GET device shows them), then has `twin` `{id, twins, delta}` (the twins an update changed, null for a
 * deleted one, and the device's delta) and `state` `{id, state, lastOnlineTime}` (when the state changed),
 * each encoded once however many clients take it. The twin module is listened to only while a stream is
 * open. A client that leaves more than `maxBuffered` bytes unread is dropped (its reconnect gets a fresh
 * `hello`), so a slow one costs a bounded buffer; idle streams get a comment line every `heartbeatMs`.
 */
export class EventStreams {
  private readonly clients = new Set<Client>();
  /** The state last sent per device: a repeated state/update is no change. */
  private readonly states = new Map<string, string>();
  private unlisten: (() => void) | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly maxBuffered: number;
  private readonly heartbeatMs: number;

  constructor(
    private readonly twin: Pick<TwinModule, 'listen'>,
    private readonly views: Pick<DeviceViews, 'device'>,
    private readonly devices: () => Iterable<string>,
    private readonly log: Logger,
    private readonly options: EventStreamOptions,
  ) {
    this.maxBuffered = options.maxBuffered ?? 1024 * 1024;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
  }

  /** Streams open now. */
  get size(): number {
    return this.clients.size;
  }

  /** Throws 503 when no more stream may open: call before taking the request over. */
  checkRoom(): void {
    if (this.clients.size >= this.options.maxClients)
      throw new HttpError(503, `too many event streams open (at most ${this.options.maxClients})`);
  }

  /** Streams to `response` (`device`'s events only, when given) until either side closes it. */
  open(response: EventSink, device: string | undefined): void {
    this.checkRoom();
    const ids = device === undefined ? [...this.devices()] : [device];
    const devices = ids.flatMap((id) => this.views.device(id) ?? []);
    for (const d of devices) if (!this.states.has(d.id)) this.states.set(d.id, d.state);
    const hello = `retry: 2000\n\n${frame('hello', { devices })}`;
    const client: Client = { response, device, limit: this.maxBuffered + Buffer.byteLength(hello) };
    response.once('close', () => this.remove(client));
    this.clients.add(client);
    this.write(client, hello);
    if (this.clients.size === 1) {
      this.unlisten = this.twin.listen((event) => this.onEvent(event));
      this.heartbeat = setInterval(() => {
        for (const c of this.clients) this.write(c, ': ping\n\n');
      }, this.heartbeatMs);
      this.heartbeat.unref();
    }
  }

  /** Ends every stream (the server is closing). */
  closeAll(): void {
    for (const client of [...this.clients]) {
      client.response.end();
      this.remove(client);
    }
  }

  private onEvent(event: TwinEvent): void {
    let text: string | undefined;
    if (event.kind === 'state') {
      if (this.states.get(event.id) === event.state) return;
      this.states.set(event.id, event.state);
    }
    for (const client of this.clients) {
      if (client.device !== undefined && client.device !== event.id) continue;
      text ??=
        event.kind === 'twin'
          ? frame('twin', { id: event.id, twins: twinViews(event.changed), delta: event.delta })
          : frame('state', { id: event.id, state: event.state, lastOnlineTime: event.lastOnlineTime });
      this.write(client, text);
    }
  }

  private write(client: Client, text: string): void {
    const { response } = client;
    if (response.destroyed) return;
    response.write(text);
    if (response.writableLength <= client.limit) return;
    this.log.warn(
      { unread: response.writableLength, maxBuffered: this.maxBuffered, device: client.device },
      'event stream client too slow (more than maxBuffered bytes unread), dropped',
    );
    response.destroy();
    this.remove(client);
  }

  private remove(client: Client): void {
    if (!this.clients.delete(client) || this.clients.size > 0) return;
    this.unlisten?.();
    this.unlisten = undefined;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.states.clear();
  }
}
