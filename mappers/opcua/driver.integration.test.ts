import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadSampleDevice,
  type OpcuaConfig,
  type OpcuaVisitor,
  type ResolvedDevice,
} from '../../device-models/internal.js';
import type { Point, Reading } from '../../sdk/driver.js';
import { type Call, deadline } from '../../sdk/runtime/call.js';
import { driverContext } from '../../sdk/testing/driver-context.js';
import { OpcuaDriver } from './driver.js';
import { createOpcuaSimulator, type OpcuaSimulator } from './simulator.js';

type OpcuaDevice = ResolvedDevice<OpcuaConfig, OpcuaVisitor>;
const sampleTank = () => loadSampleDevice<OpcuaConfig, OpcuaVisitor>('tank-01');

/** The sample tank plus an INT property (an Int32 node), for a value the node's type cannot hold. */
const tank = await sampleTank();
const device: OpcuaDevice = {
  ...tank,
  properties: [
    ...tank.properties,
    {
      name: 'batch-count',
      model: { name: 'batch-count', type: 'INT', accessMode: 'ReadWrite' },
      visitor: { nodeID: 'ns=1;s=Tank.BatchCount' },
      collectCycle: 1000,
      reportCycle: 1000,
      reportToCloud: false,
    },
  ],
};
const USER = { userName: 'operator', password: 'tank-secret' };

/** What the runtime gives each call: the config's 1 s request timeout within a longer deadline. */
const call = (): Call => ({ ...deadline(5000), timeoutMs: 1000 });
/** Connecting may generate the client certificate first. */
const connectCall = (): Call => ({ ...deadline(20_000), timeoutMs: 1000 });

function point(name: string): Point<OpcuaVisitor> {
  const p = device.properties.find((q) => q.name === name);
  if (!p) throw new Error(`no property ${name}`);
  return { name: p.name, visitor: p.visitor, property: p.model };
}

describe('OPC UA driver against the simulator (user/password)', () => {
  let pkiDir: string;
  let sim: OpcuaSimulator;
  let config: OpcuaConfig;
  let driver: OpcuaDriver;
  const newDriver = (context = driverContext()) =>
    new OpcuaDriver(context, { pkiDir: join(pkiDir, 'client') });

  beforeAll(async () => {
    pkiDir = await mkdtemp(join(tmpdir(), 'edgetwin-opcua-driver-'));
    sim = createOpcuaSimulator(device, { seed: 3, pkiDir: join(pkiDir, 'server'), ...USER });
    config = { ...device.config, ...(await sim.start()), ...USER, timeout: 1000 } as OpcuaConfig;
    driver = newDriver();
    await driver.connect(config, connectCall());
  });
  afterAll(async () => {
    await driver?.close();
    await sim?.stop();
    if (pkiDir) await rm(pkiDir, { recursive: true, force: true });
  });

  it('subscribe delivers a changed value', async () => {
    const seen: Reading[] = [];
    let changed!: () => void;
    const done = new Promise<void>((resolve) => {
      changed = resolve;
    });
    const unsubscribe = await driver.subscribe(
      point('level'),
      (reading) => {
        seen.push(reading);
        if (seen.length >= 2 && seen.at(-1)?.value !== seen[0]?.value) changed();
      },
      call(),
    );
    await done;
    await unsubscribe();
    expect(typeof seen[0]?.value).toBe('number');
    expect(seen.at(-1)?.quality).toBe('good');
  });

  it('readMany issues a single Read request for all points', async () => {
    const points = device.properties.map((p) => point(p.name));
    const before = sim.requests.filter((r) => r === 'ReadRequest').length;
    const results = await driver.readMany(points, call());
    const after = sim.requests.filter((r) => r === 'ReadRequest').length;
    expect(after - before).toBe(1);
    expect(results.map((r) => (r instanceof Error ? r : typeof r.value))).toEqual([
      'number',
      'number',
      'boolean',
      'number',
    ]);
  });

  it('writes with the node DataType; refused writes are a PROTOCOL_ERROR with the status name', async () => {
    await driver.write(point('pump-speed'), 1200, call());
    expect(sim.written('pump-speed')).toBe(1200);
    await expect(driver.write(point('level'), 10, call())).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      message: expect.stringContaining('BadNotWritable'),
    });
    sim.faults.rejectWrites = true;
    try {
      await expect(driver.write(point('pump-speed'), 100, call())).rejects.toMatchObject({
        code: 'PROTOCOL_ERROR',
        message: expect.stringContaining('BadNotWritable'),
      });
    } finally {
      sim.faults.rejectWrites = false;
    }
  });

  it("leaves the model's range to the runtime, and refuses what the node's DataType cannot hold", async () => {
    // 5000 is beyond the model's maximum (1500), which the runtime checks before a write: the Double takes it.
    await driver.write(point('pump-speed'), 5000, call());
    expect(sim.written('pump-speed')).toBe(5000);
    await driver.write(point('batch-count'), 2 ** 31 - 1, call());
    await expect(driver.write(point('batch-count'), 2 ** 31, call())).rejects.toMatchObject({
      code: 'VALUE_OUT_OF_RANGE',
      message: expect.stringContaining('does not fit Int32'),
    });
  });

  it('refuses a wrong password clearly', async () => {
    const other = newDriver();
    try {
      await expect(other.connect({ ...config, password: 'wrong' }, connectCall())).rejects.toMatchObject({
        code: 'PROTOCOL_ERROR',
        message: expect.stringMatching(/refused/),
      });
      await expect(other.read(point('level'), call())).rejects.toMatchObject({ code: 'DEVICE_UNAVAILABLE' });
    } finally {
      await other.close();
    }
  });

  it('fails fast when nothing listens', async () => {
    const other = newDriver();
    try {
      await expect(
        other.connect({ ...config, url: 'opc.tcp://127.0.0.1:1/edgetwin' }, connectCall()),
      ).rejects.toMatchObject({
        code: 'DEVICE_UNAVAILABLE',
      });
    } finally {
      await other.close();
    }
  });
});

describe('OPC UA driver when the server goes away between requests', () => {
  it('reports the connection lost (context.lost) and fails later calls with DEVICE_UNAVAILABLE', async () => {
    const pkiDir = await mkdtemp(join(tmpdir(), 'edgetwin-opcua-lost-'));
    const sim = createOpcuaSimulator(tank, { seed: 3, pkiDir: join(pkiDir, 'server') });
    const context = driverContext();
    const driver = new OpcuaDriver(context, { pkiDir: join(pkiDir, 'client') });
    try {
      await driver.connect(
        { ...tank.config, ...(await sim.start()), timeout: 1000 } as OpcuaConfig,
        connectCall(),
      );
      expect((await driver.read(point('level'), call())).quality).toBe('good');
      await sim.stop();
      await expect.poll(() => context.lostReasons.length, { timeout: 5000 }).toBe(1);
      expect(context.lostReasons[0]).toMatchObject({ code: 'DEVICE_UNAVAILABLE' });
      await expect(driver.read(point('level'), call())).rejects.toMatchObject({ code: 'DEVICE_UNAVAILABLE' });
    } finally {
      await driver.close();
      await sim.stop();
      await rm(pkiDir, { recursive: true, force: true });
    }
  });
});
