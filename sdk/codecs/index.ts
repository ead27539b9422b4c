export {
  decodeRegisters,
  encodeRegisters,
  type RegisterEncoding,
  registerCount,
} from './modbus-registers.js';
export { fromTwin, type TwinFormatOptions, toTwin } from './twin-codec.js';
