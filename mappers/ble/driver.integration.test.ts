import { afterEach, describe, expect, it } from 'vitest';
import type { BleVisitor } from '../../device-models/index.js';
import type { Point, Reading } from '../../sdk/driver.js';
import { DeviceUnavailable } from '../../sdk/errors.js';
import { type Call, deadline } from '../../sdk/runtime/call.js';
import { driverContext } from '../../sdk/testing/driver-context.js';
import { BleDriver } from './driver.js';
import { type BleSimulator, createBleSimulator, SimulatedRadio } from './simulated-adapter.js';
import { type BleDevice, sampleThermometer, withWritables } from './testdata/thermometer.js';

const device = withWritables(await sampleThermometer());
const point = (name: string): Point<BleVisitor> => {
  const p = device.properties.find((q) => q.name === name);
  if (!p) throw new Error(`no property ${name}`);
  return { name, visitor: p.visitor, property: p.model };
};

/** What the runtime gives each call: a GATT request timeout of 300 ms within a deadline of 3 s. */
const call = (): Call => ({ ...deadline(3000), timeoutMs: 300 });
/** A connect: scanning and connecting may take `ms`. */
const connectCall = (ms = 1000): Call => ({ ...deadline(ms), timeoutMs: 300 });

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

async function setup(target: BleDevice = device) {
  const radio = new SimulatedRadio();
  const simulator = createBleSimulator(target, { radio, tickMs: 20 });
  const context = driverContext();
  const driver = new BleDriver(context, { bindings: () => radio.createBindings(), timeoutMs: 300 });
  cleanups.push(
    () => driver.close(),
    () => simulator.stop(),
  );
  return { radio, simulator, driver, context };
}

async function connected(): Promise<Awaited<ReturnType<typeof setup>> & { simulator: BleSimulator }> {
  const s = await setup();
  const config = await s.simulator.start();
  await s.driver.connect({ ...device.config, ...config }, connectCall());
  return s;
}

describe('BleDriver over the simulated radio', () => {
  it('reads what the simulator holds, decoded through the dataConverter', async () => {
    const { simulator, driver } = await connected();
    simulator.set('temperature', 21.37);
    simulator.set('humidity', 47);
    expect((await driver.read(point('temperature'), call())).value).toBeCloseTo(21.37);
    expect((await driver.read(point('humidity'), call())).value).toBe(47);
    simulator.set('temperature', -5.5);
    expect((await driver.read(point('temperature'), call())).value).toBeCloseTo(-5.5);
  });

  it('reads a shared characteristic once for all its points', async () => {
    const { simulator, driver } = await connected();
    simulator.set('temperature', 30);
    simulator.set('humidity', 60);
    const results = await driver.readMany([point('temperature'), point('humidity')], call());
    expect(results.map((r) => (r as Reading).value)).toEqual([30, 60]);
  });

  it('writes encoded numbers and dataWrite bytes', async () => {
    const { simulator, driver } = await connected();
    await driver.write(point('alarmHigh'), 42.5, call());
    expect(simulator.written('alarmHigh')).toBeCloseTo(42.5);
    await driver.write(point('display'), 'OFF', call());
    expect(simulator.written('display')).toBe('OFF');
    expect((await driver.read(point('display'), call())).value).toBe('OFF');
  });

  it("leaves the model's range to the runtime, and refuses what the bytes cannot hold", async () => {
    const { simulator, driver } = await connected();
    // Beyond the model's maximum (85, which the runtime checks before a write), but an int16 of tenths holds it.
    await driver.write(point('alarmHigh'), 500, call());
    expect(simulator.written('alarmHigh')).toBeCloseTo(500);
    await expect(driver.write(point('alarmHigh'), 5000, call())).rejects.toMatchObject({
      code: 'VALUE_OUT_OF_RANGE',
    });
    await expect(driver.write(point('display'), 'DIM', call())).rejects.toMatchObject({
      code: 'VALUE_OUT_OF_RANGE',
    });
  });

  it("times out a GATT request with PROTOCOL_TIMEOUT after the call's timeout, on the same link", async () => {
    const { simulator, driver, context } = await connected();
    simulator.silent = true;
    await expect(driver.read(point('temperature'), call())).rejects.toMatchObject({
      code: 'PROTOCOL_TIMEOUT',
      message: expect.stringContaining('300 ms'),
    });
    const results = await driver.readMany([point('temperature'), point('alarmHigh')], call());
    expect(results).toMatchObject([{ code: 'PROTOCOL_TIMEOUT' }, { code: 'PROTOCOL_TIMEOUT' }]);
    simulator.silent = false;
    expect((await driver.read(point('temperature'), call())).quality).toBe('good');
    expect(context.lostReasons).toEqual([]);
  });

  it('pushes notifications to subscribers and stops after unsubscribing', async () => {
    const { simulator, driver } = await connected();
    const seen: number[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = await driver.subscribe(
      point('temperature'),
      (reading) => {
        seen.push(reading.value as number);
        wake?.();
      },
      call(),
    );
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

  it('reports a link the peripheral drops (context.lost), and fails later requests', async () => {
    const { simulator, driver, context } = await connected();
    simulator.disconnectPeripheral();
    await expect.poll(() => context.lostReasons.length).toBe(1);
    expect(context.lostReasons[0]).toMatchObject({ code: 'DEVICE_UNAVAILABLE' });
    await expect(driver.read(point('temperature'), call())).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
    });
  });

  it("fails connect with DEVICE_UNAVAILABLE when no peripheral advertises the address by the call's deadline", async () => {
    const { driver, context } = await setup(device);
    await expect(driver.connect(device.config, connectCall(200))).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
      message: expect.stringContaining('scanning'),
    });
    expect(context.lostReasons).toEqual([]);
  });

  it('stops a connect in progress when closed, or when its call is aborted', async () => {
    const { driver } = await setup(device);
    const connecting = driver.connect(device.config, connectCall(5000));
    await driver.close();
    await expect(connecting).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
      message: expect.stringContaining('closed'),
    });
    const stopping = new AbortController();
    const again = driver.connect(device.config, { signal: stopping.signal, timeoutMs: 300 });
    stopping.abort(new DeviceUnavailable('the device was stopped'));
    await expect(again).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
      message: expect.stringContaining('stopped'),
    });
  });

  it('connects to a peripheral that starts advertising during the scan', async () => {
    const { simulator, driver } = await setup();
    const connecting = driver.connect(device.config, connectCall());
    await simulator.start();
    await connecting;
    expect((await driver.read(point('humidity'), call())).quality).toBe('good');
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
      () => new BleDriver(driverContext(), { bindings: () => bindings, timeoutMs: 300 }),
    );
    cleanups.push(async () => {
      for (const d of drivers) await d.close();
      await simulator.stop();
    });
    await simulator.start();
    await Promise.all([
      drivers[0]!.connect(device.config, connectCall()),
      drivers[1]!.connect(second.config, connectCall()),
    ]);
    simulator.set('humidity', 11);
    simulator.set('humidity', 22, 'ble-thermometer-02');
    expect((await drivers[0]!.read(point('humidity'), call())).value).toBe(11);
    expect((await drivers[1]!.read(point('humidity'), call())).value).toBe(22);
  });
});
