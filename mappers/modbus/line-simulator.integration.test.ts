import { join } from 'node:path';
import Modbus from 'modbus-serial';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadDevices, type ResolvedDevice } from '../../device-models/index.js';
import { examplesDir } from '../../device-models/sample-files.js';
import { openPtyPair, type PtyPair } from '../../sdk/testing/pty.js';
import { planModbusLines, type RunningModbusLine, startModbusLines } from '../simulators.js';
import { ModbusLineError } from './errors.js';
import {
  createModbusLineSimulator,
  type ModbusDevice,
  type ModbusLineEndpoint,
  type ModbusLineSimulator,
  type ModbusSimulatorTransport,
} from './line-simulator.js';

type Client = InstanceType<typeof Modbus.default>;

const TIMEOUT_MS = 300;
const UNITS = [1, 2, 3, 4];

/** The example plant: meter-1..4 on one RS-485 line, gw-meter-1..4 behind one TCP gateway. */
const { devices: plant } = await loadDevices([join(examplesDir(), 'modbus-line')]);
const named = (prefix: string) =>
  plant.filter((d) => new RegExp(`^${prefix}-\\d$`).test(d.name)) as ModbusDevice[];
const meters = named('meter');
const gatewayMeters = named('gw-meter');

async function connectRtu(client: Client, path: string, baudRate: number): Promise<void> {
  await client.connectRTUBuffered(path, { baudRate });
}

const disconnect = (client: Client): Promise<void> =>
  client.isOpen ? new Promise<void>((resolve) => client.close(() => resolve())) : Promise.resolve();

/** Reads `unit`'s voltage register (tenths of a volt). */
async function voltageOf(client: Client, unit: number): Promise<number> {
  client.setID(unit);
  return (await client.readInputRegisters(0, 1)).data[0]!;
}

interface Wiring {
  name: string;
  devices: ModbusDevice[];
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  /** The transport of a first line, and of a line started again after `stop` on what the first one used. */
  transport(previous?: ModbusLineEndpoint): ModbusSimulatorTransport;
  connect(client: Client, endpoint: ModbusLineEndpoint): Promise<void>;
  disconnect(client: Client): Promise<void>;
}

let pty: PtyPair | undefined;

const wirings: Wiring[] = [
  {
    name: 'one TCP port (a gateway)',
    devices: gatewayMeters,
    transport: (previous) => ({
      kind: 'tcp',
      port: previous?.communicateMode === 'TCP' ? previous.port : 0,
    }),
    connect: (client, endpoint) =>
      client.connectTCP((endpoint as { ip: string }).ip, { port: (endpoint as { port: number }).port }),
    // destroy, not close: close() ends the socket and waits for a peer that may already be gone.
    disconnect: async (client) => client.destroy(() => {}),
  },
  {
    name: 'one RTU line (a pty pair)',
    devices: meters,
    async setup() {
      pty = await openPtyPair();
    },
    async teardown() {
      await pty?.close();
    },
    transport: () => ({ kind: 'rtu', path: pty!.a, peer: pty!.b, baudRate: 115_200 }),
    connect: (client) => connectRtu(client, pty!.b, 115_200),
    disconnect,
  },
];

describe.each(wirings)('four energy meters on $name', (w) => {
  let clock = 0;
  let line: ModbusLineSimulator;
  let endpoint: ModbusLineEndpoint;
  let client: Client;

  beforeAll(async () => w.setup?.());
  afterAll(async () => w.teardown?.());

  beforeEach(async () => {
    clock = 1_000_000;
    line = createModbusLineSimulator(w.devices, { seed: 3, transport: w.transport(), now: () => clock });
    endpoint = await line.start();
    client = new Modbus.default();
    client.setTimeout(TIMEOUT_MS);
    await w.connect(client, endpoint);
  });

  afterEach(async () => {
    await w.disconnect(client);
    await line.stop();
  });

  it('tells a client where the line is, without a slaveID', () => {
    expect(endpoint).not.toHaveProperty('slaveID');
    if (endpoint.communicateMode === 'TCP') expect(endpoint.port).toBeGreaterThan(0);
    else expect(endpoint).toEqual({ communicateMode: 'RTU', serialName: pty!.b, baudRate: 115_200 });
  });

  it('answers each unit ID with its own device', async () => {
    const raw: number[] = [];
    for (const id of UNITS) {
      raw.push(await voltageOf(client, id));
      expect(raw.at(-1)! * 0.1).toBeCloseTo(line.unit(id).get('voltage') as number, 5);
    }
    // Identical meters, seeded apart: four different readings.
    expect(new Set(raw).size).toBe(4);

    line.unit(3).set('voltage', 231.4);
    expect(await voltageOf(client, 3)).toBe(2314);
    expect(await voltageOf(client, 2)).toBe(raw[1]);

    client.setID(2);
    await client.writeRegister(100, 123);
    expect(line.device(w.devices[1]!.name)).toBe(line.unit(2));
    expect(line.unit(2).written('demand-limit')).toBeCloseTo(12.3, 5);
    for (const id of [1, 3, 4]) expect(line.unit(id).written('demand-limit')).toBeUndefined();
    client.setID(4);
    expect((await client.readHoldingRegisters(100, 1)).data).toEqual([250]);
  });

  it('leaves a unit ID that no device has unanswered: the client times out', async () => {
    client.setID(9);
    await expect(client.readInputRegisters(0, 1)).rejects.toMatchObject({ name: 'TransactionTimedOutError' });
    expect(line.requests.at(-1)).toMatchObject({ fc: 4, address: 0, count: 1, unitId: 9 });
    expect(await voltageOf(client, 1)).toBeGreaterThan(0);
  });

  it('keeps three units answering while one is dropped, and brings it back', async () => {
    line.unit(3).faults.drop = true;
    for (const id of [1, 2, 4]) expect(await voltageOf(client, id)).toBeGreaterThan(0);
    await expect(voltageOf(client, 3)).rejects.toMatchObject({ name: 'TransactionTimedOutError' });
    expect(await voltageOf(client, 4)).toBeGreaterThan(0);
    line.unit(3).faults.drop = false;
    expect(await voltageOf(client, 3)).toBeGreaterThan(0);
  });

  it('applies faults per unit and to the whole line', async () => {
    line.unit(2).faults.exceptionCode = 6;
    await expect(voltageOf(client, 2)).rejects.toMatchObject({ modbusCode: 6 });
    expect(await voltageOf(client, 1)).toBeGreaterThan(0);
    line.unit(1).faults.delayMs = 10;
    expect(await voltageOf(client, 1)).toBeGreaterThan(0);
    line.faults.drop = true;
    await expect(voltageOf(client, 4)).rejects.toMatchObject({ name: 'TransactionTimedOutError' });
    line.faults.drop = false;
    line.faults.exceptionCode = 4;
    await expect(voltageOf(client, 4)).rejects.toMatchObject({ modbusCode: 4 });
  });

  it('logs every request of the line with its unit ID', async () => {
    for (const id of UNITS) await voltageOf(client, id);
    expect(line.requests.map(({ fc, unitId }) => ({ fc, unitId }))).toEqual(
      UNITS.map((unitId) => ({ fc: 4, unitId })),
    );
  });

  it('frees its port or line on stop: a new line starts there', async () => {
    await w.disconnect(client);
    await line.stop();
    await line.stop();
    line = createModbusLineSimulator(w.devices, { transport: w.transport(endpoint) });
    expect(await line.start()).toEqual(endpoint);
    client = new Modbus.default();
    client.setTimeout(TIMEOUT_MS);
    await w.connect(client, endpoint);
    expect(await voltageOf(client, 4)).toBeGreaterThan(0);
  });
});

describe('a modbus line', () => {
  it('refuses two devices with one unit ID, naming both', () => {
    const twin = { ...meters[1]!, config: { ...meters[1]!.config, slaveID: 1 } };
    const make = () => createModbusLineSimulator([meters[0]!, twin]);
    expect(make).toThrow(ModbusLineError);
    expect(make).toThrow('default/meter-1 and default/meter-2 both answer as unit 1 on one line');
  });

  it('keeps a bounded log of requests: the most recent once it is full', async () => {
    const line = createModbusLineSimulator(gatewayMeters, { requestsKept: 8 });
    const reached = (await line.start()) as { ip: string; port: number };
    const client = new Modbus.default();
    client.setTimeout(TIMEOUT_MS);
    try {
      await client.connectTCP(reached.ip, { port: reached.port });
      for (let address = 0; address < 20; address++) {
        client.setID(1);
        await client.readInputRegisters(0, 1 + (address % 2));
        expect(line.requests.length).toBeLessThanOrEqual(8);
        expect(line.requests.at(-1)).toMatchObject({ unitId: 1, count: 1 + (address % 2) });
      }
      expect(line.requests.length).toBeGreaterThanOrEqual(4);
    } finally {
      await disconnect(client);
      await line.stop();
    }
  });
});

describe('edgetwin sim modbus: one simulated line per line or endpoint', () => {
  it('groups the example plant into its RTU line and its TCP gateway', () => {
    const plans = planModbusLines(plant);
    expect(plans.map((p) => ({ ...p, devices: p.devices.map((d) => d.name) }))).toEqual([
      {
        endpoint: 'RTU /dev/ttyUSB2 on edge-node-1',
        devices: ['meter-1', 'meter-2', 'meter-3', 'meter-4'],
        transport: { kind: 'rtu', baudRate: 115_200 },
      },
      {
        endpoint: 'TCP 127.0.0.1:5021 on edge-node-1',
        devices: ['gw-meter-1', 'gw-meter-2', 'gw-meter-3', 'gw-meter-4'],
        transport: { kind: 'tcp', host: '127.0.0.1', port: 5021 },
      },
    ]);
  });

  it('tells lines apart by edge node, and serves each on a port of its own with port 0', () => {
    const elsewhere = meters.map((d) => ({ ...d, nodeName: 'edge-node-2' }));
    const plans = planModbusLines([...meters, ...elsewhere], { port: 0 });
    expect(plans.map((p) => [p.endpoint, p.transport])).toEqual([
      ['RTU /dev/ttyUSB2 on edge-node-1', { kind: 'tcp', host: '127.0.0.1', port: 0 }],
      ['RTU /dev/ttyUSB2 on edge-node-2', { kind: 'tcp', host: '127.0.0.1', port: 0 }],
    ]);
  });

  it('refuses one port or serial line for several lines, and a line whose devices disagree on baud rate', () => {
    expect(() => planModbusLines(plant, { port: 1502 })).toThrow(ModbusLineError);
    expect(() => planModbusLines(plant, { rtu: '/tmp/line' })).toThrow(ModbusLineError);
    expect(planModbusLines(meters, { rtu: '/tmp/line' })[0]!.transport).toEqual({
      kind: 'rtu',
      path: '/tmp/line',
      baudRate: 115_200,
    });
    const slow = { ...meters[3]!, config: { ...meters[3]!.config, baudRate: 9600 } };
    expect(() => planModbusLines([...meters.slice(0, 3), slow])).toThrow(
      /disagree on its baud rate .*default\/meter-4: 9600/,
    );
  });

  it('ignores devices of other protocols', () => {
    const other = { ...meters[0]!, protocol: 'opcua' } as ResolvedDevice;
    expect(planModbusLines([other])).toEqual([]);
  });

  describe('started', () => {
    let lines: RunningModbusLine[] = [];
    let client: Client;

    beforeEach(() => {
      client = new Modbus.default();
      client.setTimeout(TIMEOUT_MS);
    });
    afterEach(async () => {
      await disconnect(client);
      await Promise.all(lines.map((l) => l.stop()));
      lines = [];
    });

    it('serves the RTU meters on a pty pair of their own, each under its slaveID', async () => {
      lines = await startModbusLines(meters);
      expect(lines).toHaveLength(1);
      const reached = lines[0]!.reached as { serialName: string; baudRate: number };
      expect(reached).toMatchObject({ communicateMode: 'RTU', baudRate: 115_200 });
      await connectRtu(client, reached.serialName, reached.baudRate);
      for (const id of UNITS) expect(await voltageOf(client, id)).toBeGreaterThan(0);
    });

    it('serves the gateway meters on one TCP port', async () => {
      lines = await startModbusLines(gatewayMeters, { port: 0 });
      const reached = lines[0]!.reached as { ip: string; port: number };
      await client.connectTCP(reached.ip, { port: reached.port });
      for (const id of UNITS) expect(await voltageOf(client, id)).toBeGreaterThan(0);
    });
  });
});
