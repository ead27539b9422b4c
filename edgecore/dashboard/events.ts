import type { DeviceView, TwinView } from './api.js';

/** `twin` event: the device's twins that changed (same views as GET; null: deleted) and its whole delta. */
export interface TwinEvent {
  id: string;
  twins: Record<string, TwinView | null>;
  delta: Record<string, string>;
}

/** `state` event: a device went online, offline, unhealthy… */
export interface StateEvent {
  id: string;
  state: string;
  lastOnlineTime: string;
}

/**
 * What a view can listen to. `hello`: every device as GET shows it, sent first on each (re)connection;
 * `reopen`: the stream connected again, so what happened meanwhile was missed (for servers without `hello`);
 * `live`: whether the stream is connected.
 */
interface Channels {
  hello: DeviceView[];
  twin: TwinEvent;
  state: StateEvent;
  reopen: undefined;
  live: boolean;
}

type Handler<T> = (value: T) => void;

/**
 * The API's Server-Sent Events (`/api/v1/events`) shared by every view: one EventSource, which reconnects by
 * itself (no polling). Views subscribe with {@link LiveEvents.on} and unsubscribe with the function it returns.
 */
export class LiveEvents {
  private readonly handlers: { [K in keyof Channels]: Set<Handler<Channels[K]>> } = {
    hello: new Set(),
    twin: new Set(),
    state: new Set(),
    reopen: new Set(),
    live: new Set(),
  };
  private source: EventSource | undefined;
  private opened = false;
  /** Whether the stream is connected now. */
  live = false;

  constructor(private readonly url = '/api/v1/events') {}

  start(): void {
    if (this.source) return;
    const source = new EventSource(this.url);
    this.source = source;
    source.addEventListener('hello', (e) => {
      const devices = parse<{ devices?: DeviceView[] }>(e)?.devices;
      if (Array.isArray(devices)) this.emit('hello', devices);
    });
    source.addEventListener('twin', (e) => {
      const data = parse<TwinEvent>(e);
      if (typeof data?.id === 'string' && data.twins)
        this.emit('twin', { id: data.id, twins: data.twins, delta: data.delta ?? {} });
    });
    source.addEventListener('state', (e) => {
      const data = parse<StateEvent>(e);
      if (typeof data?.id === 'string' && data.state)
        this.emit('state', { id: data.id, state: data.state, lastOnlineTime: data.lastOnlineTime ?? '' });
    });
    source.addEventListener('open', () => {
      this.setLive(true);
      // The first open follows the views' own first load; a later one means events were missed.
      if (this.opened) this.emit('reopen', undefined);
      this.opened = true;
    });
    source.addEventListener('error', () => this.setLive(false));
  }

  stop(): void {
    this.source?.close();
    this.source = undefined;
    this.setLive(false);
  }

  on<K extends keyof Channels>(kind: K, fn: Handler<Channels[K]>): () => void {
    const set = this.handlers[kind];
    set.add(fn);
    return () => {
      set.delete(fn);
    };
  }

  private emit<K extends keyof Channels>(kind: K, value: Channels[K]): void {
    for (const fn of this.handlers[kind]) fn(value);
  }

  private setLive(live: boolean): void {
    if (this.live === live) return;
    this.live = live;
    this.emit('live', live);
  }
}

/** The event's JSON data, or undefined when it is not JSON. */
function parse<T>(event: Event): Partial<T> | undefined {
  try {
    return (JSON.parse((event as MessageEvent<string>).data) as Partial<T> | null) ?? undefined;
  } catch {
    return undefined;
  }
}
