import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  loadSampleDevice,
  type ModbusConfig,
  type ModbusVisitor,
  type ResolvedDevice,
} from '../../device-models/internal.js';
import { startEmbeddedBroker } from '../../sdk/broker/embedded-broker.js';
import { EventBus } from '../../sdk/eventbus/event-bus.js';
import { DeviceRuntime, MapperHost } from '../../sdk/internal.js';
import { type TopicWatcher, watchTopics } from '../../sdk/testing/index.js';
import { modbusMapper } from './index.js';
import { createModbusSimulator, type ModbusSimulator } from './simulator.js';

type ModbusDevice = ResolvedDevice<ModbusConfig, ModbusVisitor>;
const sampleDevice = (name: string) => loadSampleDevice<ModbusConfig, ModbusVisitor>(name);

/**
 * The Modbus mapper end to end on the EventBus: real aedes broker on port 0, real mqtt.js clients,
 * real modbus-serial against the simulator, KubeEdge's topics and payloads.
 */

const thermostat = () => sampleDevice('thermostat-01');

const observer = (url: string) => watchTopics(url, '$hw/events/device/#');

describe('Modbus mapper on the EventBus', () => {
  let broker: Awaited<ReturnType<typeof startEmbeddedBroker>>;
  let bus: EventBus;
  let simulator: ModbusSimulator;
  let runtime: DeviceRuntime | undefined;
  let watch: TopicWatcher;

  beforeEach(async () => {
    broker = await startEmbeddedBroker({ port: 0 });
    bus = await EventBus.connect(broker.url);
    watch = await observer(broker.url);
  });

  afterEach(async () => {
    await runtime?.stop();
    runtime = undefined;
    await simulator?.stop();
    await watch.close();
    await bus.close();
    await broker.stop();
  });

  async function run(device: ModbusDevice, port = 0) {
    simulator = createModbusSimulator(device, { transport: { kind: 'tcp', port }, seed: 7 });
    const reached = await simulator.start();
    const wired = { ...device, config: { ...device.config, ...reached, timeout: 300 } };
    runtime = new DeviceRuntime({
      device: wired,
      mapper: modbusMapper,
      bus,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    await runtime.start();
    return reached;
  }

  it("reports the thermostat's temperature on twin/update in KubeEdge's format, with the scale applied", async () => {
    const device = await thermostat();
    await run(device);
    const { topic, payload } = await watch.next(
      (m) => m.topic.endsWith('/twin/update') && 'temperature' in ((m.payload.twin as object) ?? {}),
    );
    expect(topic).toBe('$hw/events/device/default/thermostat-01/twin/update');
    expect(payload).toMatchObject({ event_id: expect.any(String), timestamp: expect.any(Number) });
    expect(Math.abs((payload.timestamp as number) - Date.now())).toBeLessThan(60_000);
    const twin = (
      payload.twin as Record<
        string,
        { actual: { value: string; metadata: { timestamp: number } }; metadata: { type: string } }
      >
    ).temperature!;
    expect(twin.metadata.type).toBe('float');
    expect(twin.actual.metadata.timestamp).toEqual(expect.any(Number));
    const value = Number(twin.actual.value);
    expect(value).toBeGreaterThanOrEqual(-40);
    expect(value).toBeLessThanOrEqual(125);
    // ×0.1 applied: a whole number of tenths, not the raw register.
    expect(Math.abs(value * 10 - Math.round(value * 10))).toBeLessThan(1e-6);
  });

  it('writes a desired setpoint from twin/update/delta to the holding register and reports it back', async () => {
    await run(await thermostat());
    await watch.next((m) => m.topic.endsWith('/state/update') && m.payload.state === 'online');
    watch.clear();
    await bus.publish('$hw/events/device/default/thermostat-01/twin/update/delta', {
      event_id: 'e1',
      timestamp: Date.now(),
      twin: {},
      delta: { setpoint: '23.5' },
    });
    await new Promise<void>((resolve) => runtime!.once('written', () => resolve()));
    expect(simulator.written('setpoint')).toBeCloseTo(23.5, 5);
    const { payload } = await watch.next((m) => {
      const twin = m.payload.twin as Record<string, { actual?: { value: string } }> | undefined;
      return m.topic.endsWith('/twin/update') && twin?.setpoint?.actual?.value === '23.5';
    });
    expect(payload.event_id).toEqual(expect.any(String));
  });

  it('goes offline when the simulator dies and online again when it returns, without crashing', async () => {
    const reached = await run(await thermostat());
    await watch.next((m) => m.topic.endsWith('/state/update') && m.payload.state === 'online');
    watch.clear();
    await simulator.stop();
    const offline = await watch.next(
      (m) => m.topic.endsWith('/state/update') && m.payload.state === 'offline',
    );
    expect(offline.topic).toBe('$hw/events/device/default/thermostat-01/state/update');
    watch.clear();
    simulator = createModbusSimulator(await thermostat(), {
      transport: { kind: 'tcp', port: reached.port! },
    });
    await simulator.start();
    await watch.next((m) => m.topic.endsWith('/state/update') && m.payload.state === 'online');
    expect(runtime!.state).toBe('online');
  });

  it('reads 20 contiguous properties in one Modbus request per cycle', async () => {
    const base = await thermostat();
    const template = base.properties.find((p) => p.name === 'setpoint')!;
    const properties = Array.from({ length: 20 }, (_, i) => ({
      ...template,
      name: `register-${i}`,
      model: { ...template.model, name: `register-${i}` },
      visitor: { ...template.visitor, offset: 100 + i },
      collectCycle: 100,
      reportToCloud: false,
    }));
    await run({ ...base, properties });
    const cycles = 3;
    await new Promise<void>((resolve) => {
      let count = 0;
      runtime!.on('reading', (name: string) => {
        if (name === 'register-19' && ++count === cycles) resolve();
      });
    });
    const reads = simulator.requests.filter((r) => r.fc === 3);
    expect(reads.length).toBeGreaterThanOrEqual(cycles);
    for (const read of reads) expect(read).toMatchObject({ address: 100, count: 20 });
  });
  it('pushes each collected value to the pushMethod destinations (mqtt and http)', async () => {
    const base = await thermostat();
    const received: unknown[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        received.push({ path: request.url, body: JSON.parse(body) });
        response.end();
        server.emit('ingested');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const port = (server.address() as AddressInfo).port;
      const [temperature, setpoint, heater] = base.properties;
      const device = {
        ...base,
        properties: [
          {
            ...temperature!,
            collectCycle: 100,
            pushMethod: {
              mqtt: { address: broker.url.replace('mqtt:', 'tcp:'), topic: 'plant/temp', qos: 1 },
            },
          },
          {
            ...setpoint!,
            collectCycle: 100,
            pushMethod: { http: { hostName: 'http://127.0.0.1', port, requestPath: '/ingest' } },
          },
          heater!,
        ],
      };
      await watch.subscribe('plant/temp');
      await run(device);
      const pushed = await watch.next((m) => m.topic === 'plant/temp');
      expect(pushed.payload).toMatchObject({
        namespace: 'default',
        deviceName: 'thermostat-01',
        propertyName: 'temperature',
        value: expect.stringMatching(/^-?\d+(\.\d)?$/),
        type: 'float',
        timestamp: expect.any(Number),
      });
      if (received.length === 0) await once(server, 'ingested');
      expect(received[0]).toMatchObject({
        path: '/ingest',
        body: { propertyName: 'setpoint', value: '21.5' },
      });
    } finally {
      await runtime?.stop();
      runtime = undefined;
      server.close();
    }
  });

  it('keeps reporting a healthy device while a neighbour is unreachable', async () => {
    const good = await thermostat();
    simulator = createModbusSimulator(good, { transport: { kind: 'tcp', port: 0 } });
    const reached = await simulator.start();
    const dead = await createModbusSimulator(good, { transport: { kind: 'tcp', port: 0 } });
    const deadPort = (await dead.start()).port!;
    await dead.stop();
    const host = new MapperHost({
      bus,
      devices: [
        { ...good, config: { ...good.config, ...reached, timeout: 300 } },
        {
          ...good,
          id: 'default/thermostat-02',
          name: 'thermostat-02',
          config: { ...good.config, port: deadPort, timeout: 300 },
        },
      ],
      loadMapper: async () => modbusMapper as never,
      runtime: { backoff: { initialMs: 20, maxMs: 50 } },
    });
    await host.start();
    try {
      await watch.next(
        (m) =>
          m.topic === '$hw/events/device/default/thermostat-02/state/update' && m.payload.state === 'offline',
      );
      watch.clear();
      await watch.next((m) => m.topic === '$hw/events/device/default/thermostat-01/twin/update');
      await watch.next((m) => m.topic === '$hw/events/device/default/thermostat-01/twin/update');
      expect(host.runtimes.get('default/thermostat-01')!.state).toBe('online');
      expect(host.runtimes.get('default/thermostat-02')!.state).not.toBe('online');
    } finally {
      await host.stop();
    }
  });

  it('stop() leaves no timer or socket behind', async () => {
    const kinds = () =>
      process
        .getActiveResourcesInfo()
        .filter((k) => k === 'Timeout' || k === 'TCPSocketWrap' || k === 'TCPServerWrap').length;
    const before = kinds();
    await run(await thermostat());
    await new Promise<void>((resolve) => runtime!.once('reading', () => resolve()));
    expect(kinds()).toBeGreaterThan(before);
    await runtime!.stop();
    await runtime!.stop();
    runtime = undefined;
    await simulator.stop();
    const deadline = Date.now() + 3000;
    while (kinds() > before && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
    expect(kinds()).toBeLessThanOrEqual(before);
  });
});
