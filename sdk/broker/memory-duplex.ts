import { Duplex } from 'node:stream';

/**
 * Two connected in-memory streams, what one writes the other reads: a socket pair without a socket, for a
 * client in the same process as the broker. Writes wait while the other side's buffer is full (backpressure);
 * ending one side ends the other's reading; destroying either destroys both, as a closed socket would.
 */
export function memoryDuplexPair(): [Duplex, Duplex] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryEnd extends Duplex {
  peer!: MemoryEnd;
  /** The callback of a write the peer has no room for yet; called when the peer reads. */
  private blocked: (() => void) | undefined;

  override _read(): void {
    const resume = this.peer.blocked;
    this.peer.blocked = undefined;
    resume?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.forward(chunk, callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.forward(
      chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.peer.destroyed) this.peer.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.blocked = undefined;
    if (!this.peer.destroyed) this.peer.destroy();
    callback(error);
  }

  private forward(chunk: Buffer, callback: () => void): void {
    if (this.peer.destroyed || this.peer.push(chunk)) callback();
    else this.blocked = callback;
  }
}
