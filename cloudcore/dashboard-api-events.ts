import type { ServerResponse } from 'node:http';
import type { Logger } from '../sdk/logger.js';

export interface EventStreamsOptions {
  log: Logger;
  /** Streams open at once; one more is refused (503). */
  maxClients: number;
  /**
   * Events a client that does not read may have waiting. They are coalesced per event name and device (the
   * newest `twin` of a device replaces an older one); past this many the client is dropped, and its browser
   * reconnects and reloads.
   */
  maxPending: number;
  /** A comment line is sent this often, so that proxies and browsers keep the stream open. */
  heartbeatMs: number;
}

/** One Server-Sent Event: JSON never holds a raw newline, so `data` is one line. */
const frame = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

interface Client {
  response: ServerResponse;
  /** Only this device's events (`namespace/name`), or all. */
  device: string | undefined;
  /** Frames waiting for the socket to drain, by `event\0id`. */
  pending: Map<string, string>;
  blocked: boolean;
}

/**
 * The Server-Sent Events side of the dashboard API: every open `GET /api/v1/events` stream, each bounded (see
 * `maxPending`), a heartbeat comment every `heartbeatMs`, and all of them ended by closeAll().
 */
export class EventStreams {
  private readonly clients = new Set<Client>();
  private heartbeat?: NodeJS.Timeout;
  private closed = false;
  /** Clients dropped because they did not keep up. */
  dropped = 0;

  constructor(private readonly options: EventStreamsOptions) {}

  get size(): number {
    return this.clients.size;
  }

  /** Events waiting, over all streams, for sockets to drain. */
  get waiting(): number {
    let count = 0;
    for (const client of this.clients) count += client.pending.size;
    return count;
  }

  /**
   * Takes over `response` as a stream (`device`'s events only, when given), starting with `hello` (`{devices}`,
   * as GET shows them, as the edge's streams start); false (and nothing written) when there are too many already.
   */
  open(response: ServerResponse, device: string | undefined, hello: () => unknown): boolean {
    if (this.closed || this.clients.size >= this.options.maxClients) return false;
    const client: Client = { response, device, pending: new Map(), blocked: false };
    this.clients.add(client);
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // A browser that loses the stream tries again after 2 s (and gets a fresh hello).
    if (!response.write(`retry: 2000\n\n${frame('hello', hello())}`)) this.block(client);
    const forget = () => this.clients.delete(client);
    response.once('close', forget);
    response.once('error', forget);
    this.heartbeat ??= setInterval(() => this.beat(), this.options.heartbeatMs);
    return true;
  }

  /** Sends `event` with `data` to every stream of device `id` (also the coalescing key), encoded once. */
  broadcast(event: string, id: string, data: unknown): void {
    if (this.clients.size === 0) return;
    let text: string | undefined;
    for (const client of this.clients) {
      if (client.device !== undefined && client.device !== id) continue;
      text ??= frame(event, data);
      this.send(client, `${event}\0${id}`, text);
    }
  }

  /** Ends every stream and refuses new ones; safe twice. */
  closeAll(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    for (const client of this.clients) client.response.end();
    this.clients.clear();
  }

  private send(client: Client, key: string, text: string): void {
    if (client.blocked) {
      client.pending.delete(key); // the newest goes last
      client.pending.set(key, text);
      if (client.pending.size > this.options.maxPending) this.drop(client);
      return;
    }
    if (!client.response.write(text)) this.block(client);
  }

  private block(client: Client): void {
    client.blocked = true;
    client.response.once('drain', () => this.flush(client));
  }

  private flush(client: Client): void {
    client.blocked = false;
    for (const [key, text] of client.pending) {
      client.pending.delete(key);
      if (!client.response.write(text)) {
        this.block(client);
        return;
      }
    }
  }

  private drop(client: Client): void {
    this.clients.delete(client);
    this.dropped++;
    this.options.log.warn(
      { pending: client.pending.size, maxPending: this.options.maxPending },
      'event stream dropped: the client does not read its events (it reconnects and reloads)',
    );
    client.pending.clear();
    client.response.destroy();
  }

  private beat(): void {
    if (this.clients.size === 0) {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
      return;
    }
    for (const client of this.clients)
      if (!client.blocked && !client.response.write(': ping\n\n')) this.block(client);
  }
}
