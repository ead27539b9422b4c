import ModbusModule from 'modbus-serial';
import {
  loadDevices,
  type ModbusConfig,
  type ModbusVisitor,
  type ResolvedDevice,
} from '../device-models/index.js';
import { modbusMapper } from '../mappers/modbus/index.js';
import { createModbusSimulator } from '../mappers/modbus/simulator.js';
import type { Call, Driver, Point } from '../sdk/index.js';
import { driverContext } from '../sdk/testing/driver-context.js';

/**
 * Mapper reads/s against the raw modbus-serial client's reads/s, on the same simulator, in the same run:
 * one property per request (the driver's overhead), then 20 properties per cycle (what coalescing buys).
 */

/** Under NodeNext the default import is the module object; the client class is its `default`. */
const ModbusRTU = ModbusModule.default;
type ModbusDevice = ResolvedDevice<ModbusConfig, ModbusVisitor>;

async function rate(seconds: number, op: () => Promise<unknown>): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let n = 0;
  const start = performance.now();
  while (performance.now() < end) {
    await op();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

export async function benchModbusReads(seconds = 3): Promise<string[]> {
  const sample = new URL('../../device-models/samples/modbus-tcp-thermostat.yaml', import.meta.url).pathname;
  const base = (await loadDevices([sample])).devices[0] as ModbusDevice;
  const setpoint = base.properties.find((p) => p.name === 'setpoint')!;
  const properties = Array.from({ length: 20 }, (_, i) => ({
    ...setpoint,
    name: `r${i}`,
    visitor: { ...setpoint.visitor, offset: 100 + i },
  }));
  const device: ModbusDevice = { ...base, properties: [setpoint, ...properties] };
  const simulator = createModbusSimulator(device, { transport: { kind: 'tcp', port: 0 } });
  const reached = await simulator.start();
  const lines: string[] = [];
  try {
    const raw = new ModbusRTU();
    await raw.connectTCP('127.0.0.1', { port: reached.port! });
    raw.setID(1);
    raw.setTimeout(1000);
    const driver = modbusMapper.createDriver(driverContext()) as Driver<ModbusConfig, ModbusVisitor>;
    // One call for the whole run: the driver's own cost, not the runtime's deadline timers.
    const call: Call = { signal: new AbortController().signal, timeoutMs: 1000 };
    await driver.connect({ ...device.config, ...reached }, call);
    const point: Point<ModbusVisitor> = {
      name: 'setpoint',
      visitor: setpoint.visitor,
      property: setpoint.model,
    };
    const points = properties.map((p) => ({ name: p.name, visitor: p.visitor, property: p.model }));

    const rawOne = await rate(seconds, () => raw.readHoldingRegisters(0, 1));
    const ourOne = await rate(seconds, () => driver.read(point, call));
    lines.push(
      `modbus TCP, 1 property per request: raw modbus-serial ${rawOne.toFixed(0)} reads/s, edgetwin driver ${ourOne.toFixed(0)} reads/s, ratio ${(ourOne / rawOne).toFixed(2)}`,
    );
    const rawMany =
      20 *
      (await rate(seconds, async () => {
        for (let i = 0; i < 20; i++) await raw.readHoldingRegisters(100 + i, 1);
      }));
    const ourMany = 20 * (await rate(seconds, () => driver.readMany!(points, call)));
    lines.push(
      `modbus TCP, 20 contiguous properties per cycle: raw one-by-one ${rawMany.toFixed(0)} values/s, edgetwin coalesced ${ourMany.toFixed(0)} values/s, ratio ${(ourMany / rawMany).toFixed(2)}`,
    );
    await driver.close();
    await new Promise<void>((resolve) => raw.close(() => resolve()));
  } finally {
    await simulator.stop();
  }
  return lines;
}
