import { type Static, Type } from '@sinclair/typebox';
import { Boolish, Closed, Numeric, StringEnum } from '../schema/common.js';
import { defineProtocol, type Finding } from './types.js';

export const BLE_OPERATIONS = ['Add', 'Subtract', 'Multiply', 'Divide'] as const;

/** `configData` of a BLE device: the peripheral to connect to. */
export const BleConfig = Closed({
  macAddress: Type.String({
    pattern: '^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$',
    description: 'Peripheral address, e.g. A4:C1:38:0D:2E:11',
  }),
});
export type BleConfig = Static<typeof BleConfig>;

const Index = () => Type.Optional(Numeric({ integer: true, minimum: 0 }));

/** `visitors.configData` of a BLE property: the characteristic, and how its bytes become a value. */
export const BleVisitor = Closed({
  characteristicUUID: Type.String({
    pattern:
      '^([0-9A-Fa-f]{4}|[0-9A-Fa-f]{32}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$',
    description: '16-bit or 128-bit characteristic UUID',
  }),
  dataWrite: Type.Optional(
    Type.Unsafe<Record<string, number[]>>({
      type: 'object',
      additionalProperties: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 255 } },
      description: 'Bytes to write for each property value, e.g. ON: [1]',
    }),
  ),
  dataConverter: Type.Optional(
    Closed({
      startIndex: Index(),
      endIndex: Index(),
      shiftLeft: Index(),
      shiftRight: Index(),
      orderOfOperations: Type.Optional(
        Type.Array(
          Closed({
            operationType: StringEnum(BLE_OPERATIONS),
            operationValue: Numeric(),
          }),
        ),
      ),
    }),
  ),
  notify: Type.Optional(Boolish('Subscribe to notifications instead of polling (edgetwin).')),
});
export type BleVisitor = Static<typeof BleVisitor>;

/** The built-in `ble` protocol's schemas (its mapper is in mappers/ble). */
export const ble = defineProtocol({
  protocol: 'ble',
  configSchema: BleConfig,
  visitorSchema: BleVisitor,
  checkVisitor(visitor) {
    const findings: Finding[] = [];
    const ops = visitor.dataConverter?.orderOfOperations ?? [];
    ops.forEach((op, i) => {
      if (op.operationType === 'Divide' && op.operationValue === 0)
        findings.push({
          path: ['dataConverter', 'orderOfOperations', i, 'operationValue'],
          message: 'division by 0',
        });
    });
    return findings;
  },
});
