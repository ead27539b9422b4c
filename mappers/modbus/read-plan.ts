import type { ModbusReadMember, ModbusReadRequest } from '../../device-models/internal.js';
import { ProtocolError } from '../../sdk/errors.js';

// The planner itself is pure and lives in device-models (validation estimates RTU line load with it).
export {
  type ModbusPlanOptions as PlanOptions,
  type ModbusReadMember as ReadMember,
  type ModbusReadRequest as ReadRequest,
  modbusPointSpan as pointSpan,
  planModbusReads as planReads,
} from '../../device-models/internal.js';

/**
 * The words (or bits, as 0/1) of one member out of its request's response. Throws ProtocolError when the
 * response is too short to hold the member.
 */
export function extractPoint(
  request: ModbusReadRequest,
  words: readonly number[],
  member: ModbusReadMember,
): number[] {
  const end = member.offset + member.count;
  if (words.length < end)
    throw new ProtocolError(
      `${request.register} read at ${request.start} returned ${words.length} values, needed ${end}`,
    );
  return words.slice(member.offset, end);
}
