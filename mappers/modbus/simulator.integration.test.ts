import Modbus from 'modbus-serial';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ModbusConfig } from '../../device-models/index.js';
import { openPtyPair, type PtyPair } from '../../sdk/testing/pty.js';
import { createModbusSimulator, type ModbusSimulator, type ModbusSimulatorTransport } from './simulator.js';
import { thermostat } from './testdata/thermostat.js';

type Client = InstanceType<typeof Modbus.default>;

const TIMEOUT_MS = 300;

interface Transport {
  name: string;
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  transport(): ModbusSimulatorTransport;
  connect(client: Client, config: Partial<ModbusConfig>): Promise<void>;
  disconnect(client: Client): Promise<void>;
}

let pty: PtyPair | undefined;

const transports: Transport[] = [
  {
    name: 'TCP',
    transport: () => ({ kind: 'tcp', port: 0 }),
    connect: (client, config) => client.connectTCP(config.ip!, { port: config.port! }),
    // destroy, not close: close() ends the socket and waits for a peer that may already be gone.
    disconnect: async (client) => client.destroy(() => {}),
  },
  {
    name: 'RTU over a pty pair',
    async setup() {
      pty = await openPtyPair();
    },
    async teardown() {
      await pty?.close();
    },
    transport: () => ({ kind: 'rtu', path: pty!.a, peer: pty!.b, baudRate: 19_200 }),
    connect: (client) => client.connectRTUBuffered(pty!.b, { baudRate: 19_200 }),
    disconnect: (client) =>
      client.isOpen ? new Promise<void>((resolve) => client.close(() => resolve())) : Promise.resolve(),
  },
];

describe.each(transports)('modbus simulator over $name', (t) => {
  let clock = 0;
  let simulator: ModbusSimulator;
  let client: Client;
  let config: Partial<ModbusConfig>;

  beforeAll(async () => t.setup?.());
  afterAll(async () => t.teardown?.());

  beforeEach(async () => {
    clock = 1_000_000;
    simulator = createModbusSimulator(thermostat(), { seed: 7, transport: t.transport(), now: () => clock });
    config = await simulator.start();
    client = new Modbus.default();
    client.setTimeout(TIMEOUT_MS);
    await t.connect(client, config);
    client.setID(config.slaveID ?? 1);
  });

  afterEach(async () => {
    await t.disconnect(client);
    await simulator.stop();
  });

  it('tells a client how to reach it', () => {
    if (t.name === 'TCP') {
      expect(config).toMatchObject({ communicateMode: 'TCP', ip: '127.0.0.1', slaveID: 1 });
      expect(config.port).toBeGreaterThan(0);
    } else expect(config).toMatchObject({ communicateMode: 'RTU', serialName: pty!.b, baudRate: 19_200 });
  });

  it('serves a read-only temperature that follows a waveform inside the model range', async () => {
    const raw = (await client.readInputRegisters(0, 1)).data[0]!;
    const temperature = new Int16Array([raw])[0]! * 0.1;
    expect(temperature).toBeCloseTo(simulator.get('temperature') as number, 5);
    expect(temperature).toBeGreaterThanOrEqual(-20);
    expect(temperature).toBeLessThanOrEqual(50);
    const seen = new Set<number>();
    for (let step = 0; step < 8; step++) {
      clock += 2_500;
      const value = (await client.readInputRegisters(0, 1)).data[0]!;
      seen.add(value);
      expect(new Int16Array([value])[0]! * 0.1).toBeCloseTo(simulator.get('temperature') as number, 5);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it('is deterministic for a seed', () => {
    const again = createModbusSimulator(thermostat(), { seed: 7, now: () => clock });
    const other = createModbusSimulator(thermostat(), { seed: 8, now: () => clock });
    clock += 3_000;
    expect(again.get('temperature')).toBe(simulator.get('temperature'));
    expect(other.get('temperature')).not.toBe(simulator.get('temperature'));
  });

  it('starts a read-write register at its desired value, and keeps what is written', async () => {
    expect((await client.readHoldingRegisters(10, 1)).data).toEqual([215]);
    expect(simulator.written('setpoint')).toBeUndefined();
    await client.writeRegister(10, 225);
    expect(simulator.written('setpoint')).toBeCloseTo(22.5, 5);
    expect((await client.readHoldingRegisters(10, 1)).data).toEqual([225]);
    await client.writeRegisters(10, [230]);
    expect(simulator.get('setpoint')).toBeCloseTo(23, 5);
  });

  it('keeps a written coil', async () => {
    expect((await client.readCoils(0, 1)).data[0]).toBe(false);
    await client.writeCoil(0, true);
    expect(simulator.written('heater')).toBe(true);
    expect((await client.readCoils(0, 1)).data[0]).toBe(true);
  });

  it('lets a test put values in', async () => {
    simulator.set('temperature', -12.5);
    clock += 10_000;
    expect((await client.readInputRegisters(0, 1)).data).toEqual([0x10000 - 125]);
    simulator.set('heater', true);
    expect((await client.readCoils(0, 1)).data[0]).toBe(true);
    expect(simulator.written('heater')).toBeUndefined();
  });

  it('answers exception 2 for any address the device does not name', async () => {
    await expect(client.readHoldingRegisters(500, 1)).rejects.toMatchObject({ modbusCode: 2 });
    await expect(client.readHoldingRegisters(10, 2)).rejects.toMatchObject({ modbusCode: 2 });
    await expect(client.readInputRegisters(10, 1)).rejects.toMatchObject({ modbusCode: 2 });
    await expect(client.readCoils(1, 1)).rejects.toMatchObject({ modbusCode: 2 });
    await expect(client.readDiscreteInputs(0, 1)).rejects.toMatchObject({ modbusCode: 2 });
    await expect(client.writeRegister(11, 1)).rejects.toMatchObject({ modbusCode: 2 });
    expect(simulator.written('setpoint')).toBeUndefined();
  });

  it('records every request', async () => {
    await client.readInputRegisters(0, 1);
    await client.readHoldingRegisters(10, 1);
    await client.writeCoil(0, true);
    await client.writeCoils(0, [false]);
    await client.writeRegisters(10, [200]);
    await client.readHoldingRegisters(300, 3).catch(() => {});
    expect(
      simulator.requests.map(({ fc, address, count, unitId }) => ({ fc, address, count, unitId })),
    ).toEqual([
      { fc: 4, address: 0, count: 1, unitId: 1 },
      { fc: 3, address: 10, count: 1, unitId: 1 },
      { fc: 5, address: 0, count: 1, unitId: 1 },
      { fc: 15, address: 0, count: 1, unitId: 1 },
      { fc: 16, address: 10, count: 1, unitId: 1 },
      { fc: 3, address: 300, count: 3, unitId: 1 },
    ]);
    expect(simulator.requests[0]!.at).toBe(clock);
  });

  it('never answers while faults.drop is set: the client times out', async () => {
    simulator.faults.drop = true;
    await expect(client.readHoldingRegisters(10, 1)).rejects.toMatchObject({
      name: 'TransactionTimedOutError',
    });
    expect(simulator.requests.at(-1)).toMatchObject({ fc: 3, address: 10, count: 1 });
    simulator.faults.drop = false;
    expect((await client.readHoldingRegisters(10, 1)).data).toEqual([215]);
  });

  it('answers with the injected exception code', async () => {
    simulator.faults.exceptionCode = 6;
    await expect(client.readInputRegisters(0, 1)).rejects.toMatchObject({ modbusCode: 6 });
    await expect(client.writeCoil(0, true)).rejects.toMatchObject({ modbusCode: 6 });
    expect(simulator.written('heater')).toBeUndefined();
    expect(simulator.requests.map((r) => r.fc)).toEqual([4, 5]);
    simulator.faults.exceptionCode = undefined;
    expect((await client.readCoils(0, 1)).data[0]).toBe(false);
  });

  it('answers late with faults.delayMs', async () => {
    simulator.faults.delayMs = 20;
    expect((await client.readHoldingRegisters(10, 1)).data).toEqual([215]);
  });

  it('stops twice', async () => {
    await simulator.stop();
    await simulator.stop();
  });
});
