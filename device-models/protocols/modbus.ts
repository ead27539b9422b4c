import { type Static, Type } from '@sinclair/typebox';
import { Boolish, Closed, Numeric, StringEnum } from '../schema/common.js';
import { defineProtocol, type Finding } from './types.js';

export const MODBUS_REGISTERS = [
  'CoilRegister',
  'DiscreteInputRegister',
  'HoldingRegister',
  'InputRegister',
] as const;
/** One of Modbus's four tables: CoilRegister, DiscreteInputRegister, HoldingRegister, InputRegister. */
export type ModbusRegister = (typeof MODBUS_REGISTERS)[number];

/** Register encodings and how many 16-bit registers each spans. */
export const MODBUS_DATA_TYPES = {
  boolean: 1,
  int16: 1,
  uint16: 1,
  int32: 2,
  uint32: 2,
  float32: 2,
  float64: 4,
} as const;
/** How register words are read as a value (`int16`, `uint32`, `float32`…), and so how many they span. */
export type ModbusDataType = keyof typeof MODBUS_DATA_TYPES;

/**
 * The twin types KubeEdge's mapper-framework writes as a Modbus visitor's `dataType` (`int`, `float`…): they say
 * what the value is, not how the registers hold it, so the encoding is inferred as when `dataType` is absent.
 */
export const MODBUS_VALUE_TYPES = ['int', 'integer', 'float', 'double', 'string'] as const;

const isEncoding = (dataType: string | undefined): dataType is ModbusDataType =>
  dataType !== undefined && Object.hasOwn(MODBUS_DATA_TYPES, dataType);

export const PARITIES = ['none', 'even', 'odd', 'mark', 'space', 'N', 'E', 'O'] as const;

/** `configData` of a Modbus device: TCP (`ip`, `port`) or RTU (`serialName`, baud rate, parity…), and its slave id. */
export const ModbusConfig = Closed({
  communicateMode: Type.Optional(StringEnum(['TCP', 'RTU'] as const, 'TCP (ip, port) or RTU (serialName…).')),
  ip: Type.Optional(Type.String({ minLength: 1 })),
  port: Type.Optional(Numeric({ integer: true, minimum: 1, maximum: 65535 })),
  slaveID: Type.Optional(Numeric({ integer: true, minimum: 0, maximum: 255 })),
  serialName: Type.Optional(Type.String({ minLength: 1, description: 'e.g. /dev/ttyUSB0' })),
  baudRate: Type.Optional(Numeric({ integer: true, minimum: 50 })),
  dataBits: Type.Optional(Numeric({ integer: true, minimum: 5, maximum: 8 })),
  stopBits: Type.Optional(Numeric({ minimum: 1, maximum: 2 })),
  parity: Type.Optional(StringEnum(PARITIES)),
  timeout: Type.Optional(Numeric({ integer: true, minimum: 1, description: 'Request timeout in ms.' })),
});
export type ModbusConfig = Static<typeof ModbusConfig>;

/** `visitors.configData` of a Modbus property: the register table, offset, limit, data type, scale and byte order. */
export const ModbusVisitor = Closed({
  register: StringEnum(MODBUS_REGISTERS),
  offset: Numeric({ integer: true, minimum: 0, maximum: 65535 }),
  limit: Type.Optional(
    Numeric({ integer: true, minimum: 1, maximum: 125, description: 'Registers (or coils) read.' }),
  ),
  scale: Type.Optional(Numeric({ description: 'Raw value × scale = property value.' })),
  isSwap: Type.Optional(Boolish('Swap the two bytes of each register.')),
  isRegisterSwap: Type.Optional(Boolish('Swap the order of the registers (words).')),
  dataType: Type.Optional(
    StringEnum(
      [...(Object.keys(MODBUS_DATA_TYPES) as ModbusDataType[]), ...MODBUS_VALUE_TYPES],
      'Register encoding (int16, uint16, int32, uint32, float32, float64, boolean); a KubeEdge value type ' +
        '(int, float, double…) lets the encoding be inferred from register, limit and the property type.',
    ),
  ),
});
export type ModbusVisitor = Static<typeof ModbusVisitor>;

const BIT_REGISTERS: readonly ModbusRegister[] = ['CoilRegister', 'DiscreteInputRegister'];

/** The encoding a visitor names, or implies when `dataType` is absent or a KubeEdge value type. */
export function modbusDataType(visitor: ModbusVisitor, propertyType: string): ModbusDataType {
  if (isEncoding(visitor.dataType)) return visitor.dataType;
  if (BIT_REGISTERS.includes(visitor.register)) return 'boolean';
  const limit = visitor.limit ?? 1;
  if (limit >= 4) return 'float64';
  if (limit >= 2) return propertyType === 'INT' ? 'int32' : 'float32';
  return 'int16';
}

/** TCP or RTU: `communicateMode`, or RTU when only a serialName is given (as the driver decides). */
export function modbusMode(config: ModbusConfig): 'TCP' | 'RTU' {
  return config.communicateMode ?? (config.serialName && !config.ip ? 'RTU' : 'TCP');
}

/** The built-in `modbus` protocol's schemas and cross-field checks (its mapper is in mappers/modbus). */
export const modbus = defineProtocol({
  protocol: 'modbus',
  configSchema: ModbusConfig,
  visitorSchema: ModbusVisitor,
  // KubeEdge's mapper-framework names the line `serialPort`.
  configAliases: { serialPort: 'serialName' },
  checkConfig(config) {
    const mode = modbusMode(config);
    const findings: Finding[] = [];
    if (mode === 'TCP' && !config.ip) findings.push({ path: ['ip'], message: 'is required for Modbus TCP' });
    if (mode === 'RTU' && !config.serialName)
      findings.push({ path: ['serialName'], message: 'is required for Modbus RTU' });
    return findings;
  },
  checkVisitor(visitor, property) {
    const findings: Finding[] = [];
    const bits = BIT_REGISTERS.includes(visitor.register);
    const readOnlyRegister =
      visitor.register === 'InputRegister' || visitor.register === 'DiscreteInputRegister';
    if (readOnlyRegister && (property.accessMode ?? 'ReadWrite') === 'ReadWrite')
      findings.push({
        path: ['register'],
        message: `${visitor.register} cannot be written, but property "${property.name}" is ReadWrite (make it ReadOnly)`,
      });
    const dataType = modbusDataType(visitor, property.type);
    if (bits && dataType !== 'boolean')
      findings.push({
        path: ['dataType'],
        message: `${visitor.register} holds bits; dataType must be boolean`,
      });
    if (!bits && dataType === 'boolean')
      findings.push({ path: ['dataType'], message: `boolean needs a CoilRegister or DiscreteInputRegister` });
    if (!bits && visitor.limit !== undefined && visitor.limit < MODBUS_DATA_TYPES[dataType])
      findings.push({
        path: ['limit'],
        message: `${dataType} spans ${MODBUS_DATA_TYPES[dataType]} registers but limit is ${visitor.limit}`,
      });
    if (visitor.scale === 0) findings.push({ path: ['scale'], message: 'must not be 0' });
    if (!['INT', 'FLOAT', 'DOUBLE', 'BOOLEAN'].includes(property.type))
      findings.push({ path: [], message: `a Modbus register cannot hold a ${property.type} property` });
    return findings;
  },
});
