import ModbusModule from 'modbus-serial';
import type { ModbusConfig, ModbusVisitor, ResolvedDevice } from '../device-models/internal.js';
import { modbusMapper } from '../mappers/modbus/index.js';
import { createModbusLineSimulator } from '../mappers/modbus/line-simulator.js';
import { ConnectionPool, DeviceRuntime, type ProtocolMapper } from '../sdk/internal.js';
import type { DeviceBus } from '../sdk/runtime/device-bus.js';
import { openPtyPair } from '../sdk/testing/pty.js';
import { resolvedDevice } from '../sdk/testing/resolved-device.js';

/**
 * A multi-drop RS-485 line: 8 slaves on one pty pair at 115200 baud, each with REGISTERS contiguous holding
 * registers. edgetwin: 8 device runtimes sharing one connection (queue, deadline, pool, coalesced reads),
 * cycles as fast as the line serves them; raw: one modbus-serial client doing the same requests in one loop.
 * Then the same with one slave dead, to show what a dead slave costs its neighbours.
 */

const ModbusRTU = ModbusModule.default;
type ModbusDevice = ResolvedDevice<ModbusConfig, ModbusVisitor>;

const SLAVES = 8;
const REGISTERS = 4;
const BAUD = 115_200;
const TIMEOUT_MS = 100;

function meter(unit: number): ModbusDevice {
  const properties = Array.from({ length: REGISTERS }, (_, i) => ({
    name: `r${i}`,
    model: { name: `r${i}`, type: 'INT' as const, accessMode: 'ReadOnly' as const },
    visitor: { register: 'HoldingRegister' as const, offset: i, dataType: 'uint16' as const },
    collectCycle: 1,
    reportCycle: 60_000,
    reportToCloud: false,
  }));
  return resolvedDevice({
    name: `meter-${unit}`,
    protocol: 'modbus',
    config: { communicateMode: 'RTU', slaveID: unit, baudRate: BAUD, timeout: TIMEOUT_MS },
    properties,
    nodeName: 'bench',
  });
}

/** A bus that drops everything: this bench measures the line, not MQTT. */
const quietBus: DeviceBus = {
  reportActual: async () => {},
  publishState: async () => {},
  onDelta: async () => async () => {},
  getTwins: async () => undefined,
};

export async function benchModbusLine(seconds = 3): Promise<string[]> {
  const pty = await openPtyPair();
  const devices = Array.from({ length: SLAVES }, (_, i) => meter(i + 1));
  const line = createModbusLineSimulator(devices, {
    transport: { kind: 'rtu', path: pty.a, peer: pty.b, baudRate: BAUD },
  });
  await line.start();
  const lines: string[] = [];
  try {
    const raw = new ModbusRTU();
    await raw.connectRTUBuffered(pty.b, { baudRate: BAUD });
    raw.setTimeout(TIMEOUT_MS);
    const rawRate = async (units: number[]) => {
      const end = performance.now() + seconds * 1000;
      const start = performance.now();
      let values = 0;
      while (performance.now() < end)
        for (const unit of units) {
          raw.setID(unit);
          values += (await raw.readHoldingRegisters(0, REGISTERS)).data.length;
        }
      return values / ((performance.now() - start) / 1000);
    };
    const rawAll = await rawRate(devices.map((_, i) => i + 1));
    await new Promise<void>((resolve) => raw.close(() => resolve()));

    const ours = async (dead?: number) => {
      const pool = new ConnectionPool();
      const counts = new Map<string, number>();
      /** The longest wait between two cycles of any live device, ms (a probe of the dead slave sits in it). */
      const last = new Map<string, number>();
      let longest = 0;
      const runtimes = devices.map(
        (d) =>
          new DeviceRuntime({
            device: { ...d, config: { ...d.config, serialName: pty.b } },
            mapper: modbusMapper as unknown as ProtocolMapper,
            bus: quietBus,
            connections: pool,
          }),
      );
      for (const r of runtimes)
        r.on('reading', (name: string) => {
          counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
          if (name !== 'r0') return;
          const now = performance.now();
          const previous = last.get(r.id);
          if (previous !== undefined && measuring) longest = Math.max(longest, now - previous);
          last.set(r.id, now);
        });
      let measuring = false;
      if (dead !== undefined) line.unit(dead).faults.drop = true;
      await Promise.all(runtimes.map((r) => r.start()));
      // Warm-up: every live runtime connected and reading.
      await new Promise((resolve) => setTimeout(resolve, 500));
      counts.clear();
      measuring = true;
      const start = performance.now();
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      const elapsed = (performance.now() - start) / 1000;
      await Promise.all(runtimes.map((r) => r.stop()));
      line.unit(dead ?? 1).faults.drop = false;
      const live = [...counts.values()].reduce((a, b) => a + b, 0) / elapsed;
      const perDevice = live / (dead === undefined ? SLAVES : SLAVES - 1) / REGISTERS;
      return { values: live, cycleMs: 1000 / perDevice, longestMs: longest };
    };
    const all = await ours();
    lines.push(
      `modbus RTU line, ${SLAVES} slaves × ${REGISTERS} registers at ${BAUD} baud (pty): raw modbus-serial loop ${rawAll.toFixed(0)} values/s, edgetwin ${SLAVES} runtimes on one shared connection ${all.values.toFixed(0)} values/s, ratio ${(all.values / rawAll).toFixed(2)}; each device's cycle ${all.cycleMs.toFixed(1)} ms (longest ${all.longestMs.toFixed(0)} ms)`,
    );
    const oneDead = await ours(SLAVES);
    lines.push(
      `  same line, slave ${SLAVES} dead (timeout ${TIMEOUT_MS} ms, probed with backoff once offline): the 7 others ${oneDead.values.toFixed(0)} values/s, each device's cycle ${oneDead.cycleMs.toFixed(1)} ms, longest ${oneDead.longestMs.toFixed(0)} ms (all alive: ${all.cycleMs.toFixed(1)} ms, longest ${all.longestMs.toFixed(0)} ms)`,
    );
  } finally {
    await line.stop();
    await pty.close();
  }
  return lines;
}
