import { DataType } from 'node-opcua-client';
import type { PropertyType } from '../../device-models/index.js';

/** The OPC UA DataType that holds each model type (the simulator serves it, the driver writes it). */
export const MODEL_DATA_TYPES: Record<PropertyType, DataType> = {
  DOUBLE: DataType.Double,
  FLOAT: DataType.Float,
  INT: DataType.Int32,
  BOOLEAN: DataType.Boolean,
  STRING: DataType.String,
  BYTES: DataType.ByteString,
  STREAM: DataType.ByteString,
};
