import type { AbortSource } from './call.js';

/**
 * How to open one physical connection. `lost` is to be called when the library reports the connection gone
 * (port unplugged, socket closed by the gateway): every device on it is told, and the next acquire reopens it.
 */
export interface Opener<H> {
  /** Line settings (baud rate, parity…): devices naming the same connection with other settings are refused. */
  settings?: string;
  /** Opens the connection (a port, a socket, an adapter); calls `lost` if the library later reports it gone. */
  open(lost: (reason: Error) => void): Promise<H>;
  /** Closes what `open` opened: called once, after the last device lets go or the connection failed. */
  close(handle: H): Promise<void>;
}

/** One device's hold on a shared connection. */
export interface SharedConnection<H> {
  /** The endpoint's key, as given to `acquire`. */
  readonly key: string;
  /** What `Opener.open` resolved to: the library's port, socket or client. */
  readonly handle: H;
  /** Aborts, with a DeviceUnavailable, when the connection is lost or closed. */
  readonly lost: AbortSignal;
  /** Runs `work` alone on the connection, after the work queued before it by any device on it. */
  exclusive<T>(work: (handle: H) => Promise<T>, signal?: AbortSource): Promise<T>;
  /** The connection is broken (a driver saw it): it closes, every holder is told, the next acquire reopens it. */
  fail(reason: Error): void;
  /** This device lets go; the connection closes when the last holder does. Safe to call twice. */
  release(): Promise<void>;
}

/**
 * Where a driver gets connections that several devices share (`DriverContext.connections`): one per physical
 * endpoint (a serial line, a TCP gateway, a radio adapter), opened by the first device that asks for it and
 * closed after the last one lets go.
 */
export interface Connections {
  /**
   * A hold on the connection `key` names (e.g. `/dev/ttyUSB0` or `10.0.0.5:502`), opened with `opener` if no
   * device holds it yet. Refused with a DeviceUnavailable if it is open with other `settings`.
   */
  acquire<H>(key: string, opener: Opener<H>): Promise<SharedConnection<H>>;
}
