import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../sdk/logger.js';
import { bleMapper } from './index.js';

describe('bleMapper (real noble bindings)', () => {
  it('loads noble only on connect, and reports a missing adapter as DEVICE_UNAVAILABLE', async () => {
    const driver = bleMapper.createDriver({ log: silentLogger });
    expect(driver.state()).toBe('offline');
    // Without a Bluetooth adapter (as here) the HCI socket fails with EAFNOSUPPORT; with one, the scan for
    // this address times out. Either way: DEVICE_UNAVAILABLE, not a crash.
    await expect(driver.connect({ macAddress: '02:00:00:00:00:01' })).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
    });
    await driver.close();
    await driver.close();
    expect(driver.state()).toBe('closed');
  });
});
