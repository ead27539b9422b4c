export {
  decodeRegisters,
  encodeRegisters,
  type RegisterEncoding,
  registerCount,
} from './modbus-registers.js';
export { fromTwin, toTwin } from './twin-codec.js';
