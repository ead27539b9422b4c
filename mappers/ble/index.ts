import { type BleConfig, type BleVisitor, ble } from '../../device-models/index.js';
import type { ProtocolMapper } from '../../sdk/driver.js';
import { type BindingsFactory, BleDriver, type BleDriverOptions, DEFAULT_TIMEOUT_MS } from './driver.js';

/**
 * A BLE mapper over the given noble bindings: a factory (called once per driver; drivers given the same
 * bindings object share one noble) or options with one. For tests and simulation:
 * `createBleMapper(() => simulator.radio.createBindings())`.
 */
export function createBleMapper(
  options: BindingsFactory | BleDriverOptions = {},
): ProtocolMapper<typeof BleConfig, typeof BleVisitor> {
  const driverOptions = typeof options === 'function' ? { bindings: options } : options;
  return {
    schemas: ble,
    createDriver: (context) => new BleDriver(context, driverOptions),
    timeoutMs: () => driverOptions.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  };
}

/** The BLE mapper on the host's Bluetooth adapter: noble's native bindings, loaded only when a driver connects. */
export const bleMapper = createBleMapper();

export { type DataConverter, decodeValue, encodeValue } from './data-converter.js';
export {
  type BindingsFactory,
  BleDriver,
  type BleDriverOptions,
  defaultBindings,
} from './driver.js';
export {
  type BleSimulator,
  type BleSimulatorOptions,
  createBleSimulator,
  createBleSimulator as createSimulator,
  SIMULATED_SERVICE_UUID,
  SimulatedBindings,
  SimulatedPeripheral,
  SimulatedRadio,
} from './simulated-adapter.js';
