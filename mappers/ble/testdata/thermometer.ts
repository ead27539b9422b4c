import {
  type BleConfig,
  type BleVisitor,
  loadSampleDevice,
  type ResolvedDevice,
  type ResolvedProperty,
} from '../../../device-models/internal.js';

export type BleDevice = ResolvedDevice<BleConfig, BleVisitor>;

/** The sample ble-thermometer-01 as shipped in device-models/samples, resolved. */
export const sampleThermometer = (): Promise<BleDevice> =>
  loadSampleDevice<BleConfig, BleVisitor>('ble-thermometer-01');

function property(
  name: string,
  model: ResolvedProperty['model'],
  visitor: BleVisitor,
): ResolvedProperty<BleVisitor> {
  return { name, model, visitor, collectCycle: 5000, reportCycle: 10000, reportToCloud: true };
}

/**
 * The test's own copy of the thermometer with two writable properties the sample lacks: an alarm threshold
 * (int16 tenths of a degree on its own characteristic) and a display switch written through dataWrite.
 */
export function withWritables(device: BleDevice): BleDevice {
  return {
    ...device,
    properties: [
      ...device.properties,
      property(
        'alarmHigh',
        { name: 'alarmHigh', type: 'FLOAT', accessMode: 'ReadWrite', minimum: '-40', maximum: '85' },
        {
          characteristicUUID: 'ebe0ccc2-7a0a-4b0c-8a1a-6ff2997da3a6',
          dataConverter: {
            startIndex: 0,
            endIndex: 1,
            orderOfOperations: [{ operationType: 'Divide', operationValue: 10 }],
          },
        },
      ),
      property(
        'display',
        { name: 'display', type: 'STRING', accessMode: 'ReadWrite' },
        { characteristicUUID: 'EBE0CCC3-7A0A-4B0C-8A1A-6FF2997DA3A6', dataWrite: { ON: [1], OFF: [0] } },
      ),
    ],
  };
}
