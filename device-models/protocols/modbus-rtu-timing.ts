import { isBitRegister, type ModbusReadRequest } from './modbus-plan.js';

/**
 * An estimate of how long a Modbus RTU read holds the serial line, to tell a collectCycle the line cannot
 * serve. Constants (Modbus over Serial Line V1.02):
 * - a character is 11 bits: start, 8 data, parity or a second stop bit, stop;
 * - a read request (FC1–FC4) is 8 bytes: unit, function, start (2), count (2), CRC (2);
 * - its response is 5 bytes (unit, function, byte count, CRC (2)) plus the data: 2 per register, or one
 *   per 8 coils;
 * - each frame is preceded by 3.5 character times of silence (a fixed 1.75 ms above 19200 baud);
 * - the device takes a few ms to answer: 5 ms assumed (its processing plus a USB adapter's latency).
 */
export const RTU_BITS_PER_CHAR = 11;
export const RTU_REQUEST_BYTES = 8;
export const RTU_RESPONSE_OVERHEAD_BYTES = 5;
export const RTU_SILENCE_CHARS = 3.5;
export const RTU_TURNAROUND_MS = 5;

/** Milliseconds one read takes on the line: request and response frames, their silences, the turnaround. */
export function rtuReadMillis(
  request: Pick<ModbusReadRequest, 'register' | 'count'>,
  baudRate: number,
): number {
  const charMs = (RTU_BITS_PER_CHAR * 1000) / baudRate;
  const silenceMs = baudRate > 19200 ? 1.75 : RTU_SILENCE_CHARS * charMs;
  const data = isBitRegister(request.register) ? Math.ceil(request.count / 8) : 2 * request.count;
  const bytes = RTU_REQUEST_BYTES + RTU_RESPONSE_OVERHEAD_BYTES + data;
  return bytes * charMs + 2 * silenceMs + RTU_TURNAROUND_MS;
}
