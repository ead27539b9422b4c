import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModbusConfig, ModbusVisitor, ResolvedDevice } from '../../device-models/internal.js';
import { startEmbeddedBroker } from '../../sdk/broker/embedded-broker.js';
import { EventBus } from '../../sdk/eventbus/event-bus.js';
import { ConnectionPool, MapperHost, type Reading } from '../../sdk/internal.js';
import { openPtyPair, type PtyPair } from '../../sdk/testing/index.js';
import { type PymodbusPlant, startPymodbusPlant } from '../../test/support/pymodbus-plant.js';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.js';
import { waitFor } from '../../test/support/wait-for.js';
import { modbusMapper } from './index.js';
import { createModbusLineSimulator } from './line-simulator.js';
import { examplePlant } from './testdata/plant.js';

/**
 * Against Modbus stacks we did not write: Debian's pymodbus as the slaves (several unit IDs on one TCP port
 * and on one serial line), and libmodbus's mbpoll as a client of our line simulator.
 */

type ModbusDevice = ResolvedDevice<ModbusConfig, ModbusVisitor>;

const meters = (prefix: 'meter-' | 'gw-meter-', reach: Partial<ModbusConfig>) =>
  examplePlant(prefix, { reach, timeoutMs: 300, cycleMs: 200 });

describe('the Modbus mapper against pymodbus (several unit IDs on one endpoint)', () => {
  let plant: PymodbusPlant | undefined;
  let proxy: TcpProxy | undefined;
  let pty: PtyPair | undefined;
  let host: MapperHost | undefined;
  let bus: EventBus | undefined;
  let broker: Awaited<ReturnType<typeof startEmbeddedBroker>> | undefined;

  afterEach(async () => {
    await host?.stop();
    await bus?.close();
    await broker?.stop();
    await proxy?.close();
    await plant?.stop();
    await pty?.close();
    host = bus = broker = proxy = plant = pty = undefined;
  });

  /** Runs the devices; resolves to each device's latest readings. */
  async function run(devices: ModbusDevice[]) {
    broker = await startEmbeddedBroker({ port: 0 });
    bus = await EventBus.connect(broker.url);
    const readings = new Map<string, Map<string, Reading>>();
    host = new MapperHost({
      bus,
      devices,
      loadMapper: async () => modbusMapper as never,
      runtime: { connections: new ConnectionPool(), backoff: { initialMs: 300, maxMs: 1000 } },
    });
    host.on('runtime', (runtime) => {
      readings.set(runtime.id, new Map());
      runtime.on('reading', (name: string, reading: Reading) => readings.get(runtime.id)!.set(name, reading));
    });
    await host.start();
    return readings;
  }

  const state = (name: string) => host?.runtimes.get(`default/${name}`)?.state;

  /** Voltage is input register 0 × 0.1: unit u holds u * 1000, so u * 100 V. */
  const voltageOf = (readings: Map<string, Map<string, Reading>>, name: string) =>
    readings.get(`default/${name}`)?.get('voltage')?.value;

  /** Sends a desired demand-limit the way the twin does. */
  async function desire(name: string, value: string) {
    await bus!.publish(`$hw/events/device/default/${name}/twin/update/delta`, {
      event_id: `peer-${name}`,
      timestamp: Date.now(),
      twin: { 'demand-limit': { expected: { value }, expected_version: { cloud: 0, edge: 1 } } },
      delta: { 'demand-limit': value },
    });
  }

  it('four unit IDs behind one TCP gateway: one connection, each its own values, a write reaches its unit only, a dead unit goes offline alone', async () => {
    plant = await startPymodbusPlant();
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(plant.where) });
    const devices = await meters('gw-meter-', { ip: '127.0.0.1', port: Number(proxy.address.split(':')[1]) });
    const readings = await run(devices);
    await waitFor('every meter read', () =>
      [1, 2, 3, 4].every((u) => voltageOf(readings, `gw-meter-${u}`) !== undefined),
    );
    for (const u of [1, 2, 3, 4]) expect(voltageOf(readings, `gw-meter-${u}`)).toBeCloseTo(u * 100, 5);
    expect(proxy.accepted).toBe(1);

    await desire('gw-meter-2', '30');
    await waitFor('unit 2 holding register 100 = 300', async () => (await plant!.holding(2, 100)) === 300);
    for (const u of [1, 3, 4]) expect(await plant.holding(u, 100)).toBe(u * 100 + 100);

    await plant.drop(3);
    await waitFor('gw-meter-3 offline', () => state('gw-meter-3') === 'offline', 10_000);
    for (const u of [1, 2, 4]) expect(state(`gw-meter-${u}`)).toBe('online');
    await plant.restore(3);
    await waitFor('gw-meter-3 online again', () => state('gw-meter-3') === 'online', 10_000);
    expect(proxy.accepted).toBe(1);
  });

  it('four slaves on one RS-485 line (pty pair): each its own values, a write reaches its slave only', async () => {
    pty = await openPtyPair();
    plant = await startPymodbusPlant({ serial: pty.a, baud: 115_200 });
    const devices = await meters('meter-', { serialName: pty.b, baudRate: 115_200 });
    const readings = await run(devices);
    await waitFor('every meter read', () =>
      [1, 2, 3, 4].every((u) => voltageOf(readings, `meter-${u}`) !== undefined),
    );
    for (const u of [1, 2, 3, 4]) expect(voltageOf(readings, `meter-${u}`)).toBeCloseTo(u * 100, 5);
    await desire('meter-4', '12.5');
    await waitFor('unit 4 holding register 100 = 125', async () => (await plant!.holding(4, 100)) === 125);
    for (const u of [1, 2, 3]) expect(await plant.holding(u, 100)).toBe(u * 100 + 100);
  });
});

describe('our line simulator against libmodbus (mbpoll)', () => {
  it('answers each unit ID on one TCP port with its own registers, and stays silent for an absent unit', async () => {
    const devices = await meters('gw-meter-', {});
    const line = createModbusLineSimulator(devices, { transport: { kind: 'tcp', port: 0 } });
    const reached = await line.start();
    try {
      const port = String(reached.communicateMode === 'TCP' ? reached.port : 0);
      devices.forEach((d, i) => {
        line.device(d.name).set('voltage', 220 + i);
      });
      /** One poll of input register 0 (-t 3; mbpoll counts registers from 1) of `unit`; what it printed. */
      const poll = (unit: number) =>
        promisify(execFile)('mbpoll', [
          '-m',
          'tcp',
          '-a',
          String(unit),
          '-r',
          '1',
          '-c',
          '1',
          '-t',
          '3',
          '-1',
          '-o',
          '0.3',
          '-p',
          port,
          '127.0.0.1',
        ]).then(
          (r) => r.stdout + r.stderr,
          (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`,
        );
      for (const [i] of devices.entries())
        expect(await poll(i + 1)).toMatch(new RegExp(`\\[1\\]:\\s+${(220 + i) * 10}\\b`));
      const absent = await poll(9);
      expect(absent).toMatch(/timed out/i);
    } finally {
      await line.stop();
    }
  });
});
