import { ble } from '../../device-models/protocols/ble.js';
import { defineRegistration } from '../../sdk/registration.js';

/**
 * BLE on the host's adapter: noble is imported only when a BLE device runs (importing it throws on a host
 * without Bluetooth). A simulated radio needs a driver of its own: `createBleMapper(() => radio.createBindings())`.
 */
export const bleProtocol = defineRegistration({
  ...ble,
  loadDriver: async () => (await import('./index.js')).bleMapper,
});
