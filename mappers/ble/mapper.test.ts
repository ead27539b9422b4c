import { describe, expect, it } from 'vitest';
import { deadline } from '../../sdk/runtime/call.js';
import { driverContext } from '../../sdk/testing/driver-context.js';
import { bleMapper } from './index.js';

describe('bleMapper (real noble bindings)', () => {
  it('loads noble only on connect, and reports a missing adapter as DEVICE_UNAVAILABLE', async () => {
    const config = { macAddress: '02:00:00:00:00:01' };
    expect(bleMapper.timeoutMs?.(config)).toBe(2000);
    const driver = bleMapper.createDriver(driverContext());
    // Without a Bluetooth adapter (as here) the HCI socket fails with EAFNOSUPPORT; with one, the scan for
    // this address lasts until the call's deadline. Either way: DEVICE_UNAVAILABLE, not a crash.
    await expect(driver.connect(config, { ...deadline(3000), timeoutMs: 2000 })).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
    });
    await driver.close();
    await driver.close();
    const point = {
      name: 'battery',
      visitor: { characteristicUUID: '2a19' },
      property: { name: 'battery', type: 'INT' as const },
    };
    await expect(driver.read(point, { ...deadline(1000), timeoutMs: 500 })).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
    });
  });
});
