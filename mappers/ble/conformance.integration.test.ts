import type { ResolvedDevice } from '../../device-models/index.js';
import type { TypedWrites } from '../../sdk/testing/conformance.js';
import { describeConformance } from '../../sdk/testing/index.js';
import { createBleMapper } from './index.js';
import { type BleSimulator, createBleSimulator, SimulatedRadio } from './simulated-adapter.js';
import { type BleDevice, sampleThermometer, withWritables } from './testdata/thermometer.js';

/**
 * The conformance suite through noble's own code over a simulated radio: on the sample thermometer as
 * shipped (temperature and humidity, ReadOnly, notifying on one characteristic), and on the test's own copy
 * with two writable properties added (the sample has none, so the write check would otherwise be empty).
 */

const TIMEOUT_MS = 300;
const INEXACT_HOLDS = 21.6;

const NO_SHARED_LINE =
  'BLE: every peripheral has its own GATT link, opened by its own driver; the BLE driver shares no connection between devices';

/** The thermometer with an INT on a characteristic of its own, next to the FLOAT and STRING writables. */
function typedDevice(device: BleDevice): BleDevice {
  return {
    ...device,
    name: 'ble-typed',
    id: 'default/ble-typed',
    properties: [
      ...device.properties,
      {
        name: 'interval',
        model: { name: 'interval', type: 'INT', accessMode: 'ReadWrite', minimum: '0', maximum: '3600' },
        visitor: {
          characteristicUUID: 'ebe0ccc4-7a0a-4b0c-8a1a-6ff2997da3a6',
          dataConverter: { startIndex: 0, endIndex: 1 },
        },
        collectCycle: 5000,
        reportCycle: 10000,
        reportToCloud: false,
      },
    ],
  };
}

function typedWrites(radio: SimulatedRadio, device: BleDevice): TypedWrites {
  return {
    device: device as ResolvedDevice,
    async startSimulator() {
      const simulator = createBleSimulator(device, { radio });
      const config = await simulator.start();
      return { config, stop: () => simulator.stop() };
    },
    writes: [
      // Two bytes, unsigned (the model's minimum is 0): 65535 at most.
      { property: 'interval', value: 600, refuses: [70000] },
      // Tenths of a degree in an int16.
      {
        property: 'alarm-high',
        value: -12.5,
        inexact: { value: 21.55, holds: INEXACT_HOLDS },
        refuses: [4000],
      },
      // dataWrite: only its keys can be written.
      { property: 'display', value: 'OFF', refuses: ['BLINK'] },
    ],
    unsupportedTypes: {
      DOUBLE:
        'not in the BLE typed device: a DOUBLE goes through the same dataConverter as the FLOAT alarm-high',
      BOOLEAN:
        'not in the BLE typed device: booleans are written through dataWrite, as the STRING display is',
    },
  };
}

function conformance(
  name: string,
  device: BleDevice,
  options: { writeValues?: Record<string, string | number>; typed?: BleDevice } = {},
) {
  const { writeValues, typed } = options;
  // One radio outlives simulator restarts; every driver gets its own adapter on it.
  const radio = new SimulatedRadio();
  let current: BleSimulator | undefined;
  describeConformance({
    name,
    mapper: createBleMapper({ bindings: () => radio.createBindings(), timeoutMs: TIMEOUT_MS }) as never,
    device: device as ResolvedDevice,
    timeoutMs: TIMEOUT_MS,
    ...(writeValues ? { writeValues } : {}),
    async startSimulator() {
      current = createBleSimulator(device, { radio });
      const simulator = current;
      const config = await simulator.start();
      return { config, stop: () => simulator.stop() };
    },
    setSilent(silent) {
      if (current) current.silent = silent;
    },
    ...(typed
      ? { typedWrites: typedWrites(radio, typed), unsupported: { sharedLine: NO_SHARED_LINE } }
      : {
          unsupported: {
            sharedLine: NO_SHARED_LINE,
            typedWrites: 'exercised on the run with writable properties',
          },
        }),
  });
}

const thermometer = await sampleThermometer();
conformance('ble over a simulated radio (sample ble-thermometer-01)', thermometer);
conformance(
  'ble over a simulated radio (ble-thermometer-01 + writable properties)',
  withWritables(thermometer),
  { writeValues: { display: 'ON' }, typed: typedDevice(withWritables(thermometer)) },
);
