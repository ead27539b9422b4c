import type { Socket } from 'node:net';

/** The largest packet MQTT can frame: a remaining length of 268,435,455 bytes. */
export const MQTT_MAX_PACKET_SIZE = 268_435_455 + 5;

/**
 * Watches the MQTT packets arriving on `socket` (only their fixed headers: the type byte and the remaining
 * length) and calls `tooLarge` and destroys the socket as soon as a header announces a packet of more than
 * `maxPacketSize` bytes, or a malformed length. The broker's parser otherwise buffers a packet whole before
 * it looks at it: a 128 MiB PUBLISH would cost 128 MiB. Data passes untouched; the socket is only read
 * alongside the broker (a `data` listener sees each chunk as the broker reads it).
 */
export function guardPacketSize(
  socket: Socket,
  maxPacketSize: number,
  tooLarge: (size: number | undefined) => void,
): void {
  /** Bytes of the current packet's body still to come. */
  let body = 0;
  /** Bytes of the current fixed header seen (0: the next byte starts a packet). */
  let header = 0;
  let length = 0;
  let multiplier = 1;
  const refuse = (size: number | undefined) => {
    socket.off('data', onData);
    tooLarge(size);
    socket.destroy();
  };
  const onData = (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (body > 0) {
        const n = Math.min(body, chunk.length - i);
        body -= n;
        i += n;
        continue;
      }
      const byte = chunk[i++]!;
      if (header === 0) {
        header = 1;
        length = 0;
        multiplier = 1;
        continue;
      }
      header++;
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if (byte & 0x80) {
        if (header > 4) return refuse(undefined); // a fifth length byte: not MQTT
        continue;
      }
      const size = header + length;
      if (size > maxPacketSize) return refuse(size);
      header = 0;
      body = length;
    }
  };
  socket.on('data', onData);
}
