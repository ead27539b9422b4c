import type { ResolvedDevice } from '../../device-models/index.js';
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

function conformance(name: string, device: BleDevice, writeValues?: Record<string, string | number>) {
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
  });
}

const thermometer = await sampleThermometer();
conformance('ble over a simulated radio (sample ble-thermometer-01)', thermometer);
conformance(
  'ble over a simulated radio (ble-thermometer-01 + writable properties)',
  withWritables(thermometer),
  {
    display: 'ON',
  },
);
