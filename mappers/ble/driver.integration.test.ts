import { afterEach, describe, expect, it } from 'vitest';
import type { BleVisitor } from '../../device-models/index.js';
import type { Point, Reading } from '../../sdk/driver.js';
import { silentLogger } from '../../sdk/logger.js';
import { BleDriver } from './driver.js';
import { type BleSimulator, createBleSimulator, SimulatedRadio } from './simulated-adapter.js';
import { type BleDevice, sampleThermometer, withWritables } from './testdata/thermometer.js';

const device = withWritables(await sampleThermometer());
const point = (name: string): Point<BleVisitor> => {
  const p = device.properties.find((q) => q.name === name);
  if (!p) throw new Error(`no property ${name}`);
  return { name, visitor: p.visitor, property: p.model };
};

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function setup(target: BleDevice = device, options: { scanTimeoutMs?: number } = {}) {
  const radio = new SimulatedRadio();
  const simulator = createBleSimulator(target, { radio, tickMs: 20 });
  const driver = new BleDriver(
    { log: silentLogger },
    { bindings: () => radio.createBindings(), timeoutMs: 300, scanTimeoutMs: options.scanTimeoutMs ?? 1000 },
  );
  cleanups.push(
    () => driver.close(),
    () => simulator.stop(),
  );
  return { radio, simulator, driver };
}

async function connected(): Promise<{ simulator: BleSimulator; driver: BleDriver; radio: SimulatedRadio }> {
  const s = await setup();
  const config = await s.simulator.start();
  await s.driver.connect({ ...device.config, ...config });
  return s;
}

describe('BleDriver over the simulated radio', () => {
  it('reads what the simulator holds, decoded through the dataConverter', async () => {
    const { simulator, driver } = await connected();
    simulator.set('temperature', 21.37);
    simulator.set('humidity', 47);
    expect((await driver.read(point('temperature'))).value).toBeCloseTo(21.37);
    expect((await driver.read(point('humidity'))).value).toBe(47);
    simulator.set('temperature', -5.5);
    expect((await driver.read(point('temperature'))).value).toBeCloseTo(-5.5);
  });

  it('reads a shared characteristic once for all its points', async () => {
    const { simulator, driver } = await connected();
    simulator.set('temperature', 30);
    simulator.set('humidity', 60);
    const results = await driver.readMany([point('temperature'), point('humidity')]);
    expect(results.map((r) => (r as Reading).value)).toEqual([30, 60]);
  });

  it('writes encoded numbers and dataWrite bytes', async () => {
    const { simulator, driver } = await connected();
    await driver.write(point('alarmHigh'), 42.5);
    expect(simulator.written('alarmHigh')).toBeCloseTo(42.5);
    await driver.write(point('display'), 'OFF');
    expect(simulator.written('display')).toBe('OFF');
    expect((await driver.read(point('display'))).value).toBe('OFF');
    await expect(driver.write(point('display'), 'DIM')).rejects.toMatchObject({ code: 'VALUE_OUT_OF_RANGE' });
    await expect(driver.write(point('alarmHigh'), 500)).rejects.toMatchObject({ code: 'VALUE_OUT_OF_RANGE' });
  });

  it('pushes notifications to subscribers and stops after unsubscribing', async () => {
    const { simulator, driver } = await connected();
    const seen: number[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = await driver.subscribe(point('temperature'), (reading) => {
      seen.push(reading.value as number);
      wake?.();
    });
    const arrived = new Promise<void>((resolve) => {
      wake = () => {
        if (seen.includes(33.33)) resolve();
      };
    });
    simulator.set('temperature', 33.33);
    await arrived;
    await unsubscribe();
    await unsubscribe();
  });

  it('goes offline when the peripheral drops the link, and fails requests', async () => {
    const { simulator, driver } = await connected();
    const offline = new Promise<void>((resolve) => {
      const check = () => (driver.state() === 'offline' ? resolve() : setImmediate(check));
      check();
    });
    simulator.disconnectPeripheral();
    await offline;
    await expect(driver.read(point('temperature'))).rejects.toMatchObject({ code: 'DEVICE_UNAVAILABLE' });
  });

  it('fails connect with DEVICE_UNAVAILABLE when no peripheral advertises the address', async () => {
    const { driver } = await setup(device, { scanTimeoutMs: 200 });
    await expect(driver.connect(device.config)).rejects.toMatchObject({ code: 'DEVICE_UNAVAILABLE' });
    expect(driver.state()).toBe('offline');
  });

  it('stops a connect in progress when closed', async () => {
    const { driver } = await setup(device, { scanTimeoutMs: 5000 });
    const connecting = driver.connect(device.config);
    await driver.close();
    await expect(connecting).rejects.toMatchObject({ code: 'DEVICE_UNAVAILABLE' });
    expect(driver.state()).toBe('closed');
  });

  it('connects to a peripheral that starts advertising during the scan', async () => {
    const { simulator, driver } = await setup();
    const connecting = driver.connect(device.config);
    await simulator.start();
    await connecting;
    expect(driver.state()).toBe('online');
  });

  it('shares one adapter between drivers of several peripherals', async () => {
    const second: BleDevice = {
      ...device,
      name: 'ble-thermometer-02',
      config: { macAddress: 'A4-C1-38-5E-12-80' },
    };
    const radio = new SimulatedRadio();
    const simulator = createBleSimulator([device, second], { radio });
    const bindings = radio.createBindings();
    const drivers = [device, second].map(
      () =>
        new BleDriver(
          { log: silentLogger },
          { bindings: () => bindings, timeoutMs: 300, scanTimeoutMs: 1000 },
        ),
    );
    cleanups.push(async () => {
      for (const d of drivers) await d.close();
      await simulator.stop();
    });
    await simulator.start();
    await Promise.all([drivers[0]!.connect(device.config), drivers[1]!.connect(second.config)]);
    simulator.set('humidity', 11);
    simulator.set('humidity', 22, 'ble-thermometer-02');
    expect((await drivers[0]!.read(point('humidity'))).value).toBe(11);
    expect((await drivers[1]!.read(point('humidity'))).value).toBe(22);
  });
});
