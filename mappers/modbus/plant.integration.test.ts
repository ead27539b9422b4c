import { dirname } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModbusConfig, ModbusVisitor, ResolvedDevice } from '../../device-models/internal.js';
import { startEmbeddedBroker } from '../../sdk/broker/embedded-broker.js';
import { EventBus } from '../../sdk/eventbus/event-bus.js';
import { ConnectionPool, MapperHost, type RuntimeState } from '../../sdk/internal.js';
import { openPtyPair, type PtyPair, type TopicWatcher, watchTopics } from '../../sdk/testing/index.js';
import { startTcpProxy, type TcpProxy } from '../../test/support/tcp-proxy.js';
import { waitFor } from '../../test/support/wait-for.js';
import { modbusMapper } from './index.js';
import { createModbusLineSimulator, type ModbusLineSimulator } from './line-simulator.js';
import { examplePlant } from './testdata/plant.js';

/**
 * A plant, not a device: the example's four meters on one RS-485 line (one pty pair) and four unit IDs behind
 * one Modbus TCP gateway, run by the mapper host on the EventBus exactly as edgecore runs them.
 */

type ModbusDevice = ResolvedDevice<ModbusConfig, ModbusVisitor>;

const CYCLE_MS = 200;

interface Wiring {
  name: string;
  prefix: 'meter-' | 'gw-meter-';
  /** Starts the line simulator; resolves to the config a device needs to reach it. */
  start(devices: ModbusDevice[]): Promise<{ line: ModbusLineSimulator; reach: Partial<ModbusConfig> }>;
  /** Takes the whole line away (adapter unplugged, gateway gone). */
  unplug(line: ModbusLineSimulator): Promise<void>;
  /** How many connections the devices opened to the endpoint. */
  connections(): number | undefined;
  close(): Promise<void>;
}

let pty: PtyPair | undefined;
let proxy: TcpProxy | undefined;
let tcpPort = 0;

const wirings: Wiring[] = [
  {
    name: 'four slaves on one RS-485 line (pty pair, 115200 baud)',
    prefix: 'meter-',
    async start(devices) {
      pty ??= await openPtyPair();
      const line = createModbusLineSimulator(devices, {
        transport: { kind: 'rtu', path: pty.a, peer: pty.b, baudRate: 115_200 },
      });
      await line.start();
      return { line, reach: { serialName: pty.b, baudRate: 115_200 } };
    },
    async unplug(line) {
      await line.stop();
      // The USB adapter goes: the device node the mapper holds disappears.
      const dir = dirname(pty!.a);
      await pty!.close();
      pty = await openPtyPair({ dir });
    },
    connections: () => undefined,
    async close() {
      await pty?.close();
      pty = undefined;
    },
  },
  {
    name: 'four unit IDs behind one Modbus TCP gateway',
    prefix: 'gw-meter-',
    async start(devices) {
      const line = createModbusLineSimulator(devices, { transport: { kind: 'tcp', port: tcpPort } });
      const reached = await line.start();
      if (reached.communicateMode === 'TCP') tcpPort = reached.port;
      proxy ??= await startTcpProxy({ host: '127.0.0.1', port: tcpPort });
      const [host, port] = proxy.address.split(':');
      return { line, reach: { ip: host!, port: Number(port) } };
    },
    async unplug(line) {
      await line.stop();
      proxy!.cut();
    },
    connections: () => proxy?.accepted,
    async close() {
      await proxy?.close();
      proxy = undefined;
      tcpPort = 0;
    },
  },
];

describe.each(wirings)('a plant: $name', (wiring) => {
  let broker: Awaited<ReturnType<typeof startEmbeddedBroker>>;
  let bus: EventBus;
  let watch: TopicWatcher;
  let line: ModbusLineSimulator;
  let host: MapperHost;
  let pool: ConnectionPool;
  let devices: ModbusDevice[];
  const states = new Map<string, RuntimeState[]>();

  beforeEach(async () => {
    broker = await startEmbeddedBroker({ port: 0 });
    bus = await EventBus.connect(broker.url);
    watch = await watchTopics(broker.url, '$hw/events/device/#');
    const plant = await examplePlant(wiring.prefix, { cycleMs: CYCLE_MS });
    const started = await wiring.start(plant);
    line = started.line;
    plant.forEach((d, i) => {
      line.device(d.name).set('voltage', 230 + i);
    });
    devices = plant.map((d) => ({ ...d, config: { ...d.config, ...started.reach, timeout: 150 } }));
    pool = new ConnectionPool();
    states.clear();
    host = new MapperHost({
      bus,
      devices,
      loadMapper: async () => modbusMapper as never,
      ...(process.env.PLANT_DEBUG ? { log: (await import('pino')).pino({ level: 'debug' }) as never } : {}),
      runtime: { connections: pool, backoff: { initialMs: 400, maxMs: 1600 }, connectTimeoutMs: 2000 },
    });
    host.on('runtime', (runtime) => {
      states.set(runtime.id, []);
      runtime.on('state', (s: RuntimeState) => states.get(runtime.id)!.push(s));
    });
    await host.start();
  });

  afterEach(async () => {
    await host.stop();
    await line.stop();
    await watch.close();
    await bus.close();
    await broker.stop();
    await wiring.close();
  });

  const state = (name: string) => host.runtimes.get(`default/${name}`)?.state;
  const allIn = (wanted: RuntimeState, names = devices.map((d) => d.name)) =>
    waitFor(`${names.join(', ')} ${wanted}`, () => names.every((n) => state(n) === wanted), 10_000);
  const readsOf = (unitId: number) =>
    line.requests.filter((r) => r.unitId === unitId && (r.fc === 3 || r.fc === 4)).length;

  it('brings every slave online with its own values, over one connection', async () => {
    await allIn('online');
    for (const [i, device] of devices.entries()) {
      const { payload } = await watch.next(
        (m) =>
          m.topic === `$hw/events/device/default/${device.name}/twin/update` &&
          (m.payload.twin as Record<string, { actual?: { value: string } }>)?.voltage?.actual?.value ===
            String(230 + i),
      );
      expect(payload.twin).toHaveProperty('voltage');
    }
    expect(pool.size).toBe(1);
    const connections = wiring.connections();
    if (connections !== undefined) expect(connections).toBe(1);
    // Every request on the line carried one of the four unit IDs.
    expect(new Set(line.requests.map((r) => r.unitId))).toEqual(new Set([1, 2, 3, 4]));
  });

  it('writes a desired value to its own slave only', async () => {
    await allIn('online');
    const target = devices[1]!;
    await watch.client.publishAsync(
      `$hw/events/device/default/${target.name}/twin/update/delta`,
      JSON.stringify({
        event_id: 'plant-1',
        timestamp: Date.now(),
        twin: { 'demand-limit': { expected: { value: '30' }, expected_version: { cloud: 0, edge: 1 } } },
        delta: { 'demand-limit': '30' },
      }),
      { qos: 1 },
    );
    await waitFor('demand-limit written to unit 2', () => line.unit(2).written('demand-limit') === 30);
    for (const unit of [1, 3, 4]) expect(line.unit(unit).written('demand-limit')).toBeUndefined();
    const writes = line.requests.filter((r) => r.fc === 6 || r.fc === 16);
    expect(writes.map((r) => r.unitId)).toEqual([2]);
  });

  it('takes only a dead slave offline; its neighbours keep their cycle', async () => {
    await allIn('online');
    for (const list of states.values()) list.length = 0;
    line.unit(3).faults.drop = true;
    await waitFor('meter 3 offline', () => state(devices[2]!.name) === 'offline', 10_000);
    // While unit 3 is offline, every live unit keeps being read, cycle after cycle.
    const before = [1, 2, 4].map(readsOf);
    await waitFor('ten more reads of every live unit', () =>
      [1, 2, 4].every((unit, i) => readsOf(unit) >= before[i]! + 10),
    );
    for (const device of [devices[0]!, devices[1]!, devices[3]!]) {
      expect(state(device.name)).toBe('online');
      expect(states.get(`default/${device.name}`)).toEqual([]);
    }
    line.unit(3).faults.drop = false;
    await waitFor('meter 3 back online', () => state(devices[2]!.name) === 'online', 10_000);
  });

  it('takes every slave offline when the line goes, and brings them all back when it returns', async () => {
    await allIn('online');
    await wiring.unplug(line);
    await allIn('offline');
    expect(pool.size).toBe(0);
    const restarted = await wiring.start(devices.map((d) => ({ ...d, config: { ...d.config } })));
    line = restarted.line;
    proxy?.restore();
    await allIn('online');
    expect(pool.size).toBe(1);
  });
});
