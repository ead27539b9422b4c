import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadSampleDevice,
  type OpcuaConfig,
  type OpcuaVisitor,
  type ResolvedDevice,
} from '../../device-models/index.js';
import type { Point, Reading } from '../../sdk/driver.js';
import { silentLogger } from '../../sdk/logger.js';
import { OpcuaDriver } from './driver.js';
import { createOpcuaSimulator, type OpcuaSimulator } from './simulator.js';

type OpcuaDevice = ResolvedDevice<OpcuaConfig, OpcuaVisitor>;
const sampleTank = () => loadSampleDevice<OpcuaConfig, OpcuaVisitor>('tank-01');

const device: OpcuaDevice = await sampleTank();
const USER = { userName: 'operator', password: 'tank-secret' };

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
  const newDriver = () => new OpcuaDriver({ log: silentLogger }, { pkiDir: join(pkiDir, 'client') });

  beforeAll(async () => {
    pkiDir = await mkdtemp(join(tmpdir(), 'edgetwin-opcua-driver-'));
    sim = createOpcuaSimulator(device, { seed: 3, pkiDir: join(pkiDir, 'server'), ...USER });
    config = { ...device.config, ...(await sim.start()), ...USER, timeout: 1000 } as OpcuaConfig;
    driver = newDriver();
    await driver.connect(config);
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
    const unsubscribe = await driver.subscribe(point('level'), (reading) => {
      seen.push(reading);
      if (seen.length >= 2 && seen.at(-1)?.value !== seen[0]?.value) changed();
    });
    await done;
    await unsubscribe();
    expect(typeof seen[0]?.value).toBe('number');
    expect(seen.at(-1)?.quality).toBe('good');
  });

  it('readMany issues a single Read request for all points', async () => {
    const points = device.properties.map((p) => point(p.name));
    const before = sim.requests.filter((r) => r === 'ReadRequest').length;
    const results = await driver.readMany(points);
    const after = sim.requests.filter((r) => r === 'ReadRequest').length;
    expect(after - before).toBe(1);
    expect(results.map((r) => (r instanceof Error ? r : typeof r.value))).toEqual([
      'number',
      'number',
      'boolean',
    ]);
  });

  it('writes with the node DataType; refused writes are a PROTOCOL_ERROR with the status name', async () => {
    await driver.write(point('pump-speed'), 1200);
    expect(sim.written('pump-speed')).toBe(1200);
    await expect(driver.write(point('level'), 10)).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      message: expect.stringContaining('BadNotWritable'),
    });
    sim.faults.rejectWrites = true;
    try {
      await expect(driver.write(point('pump-speed'), 100)).rejects.toMatchObject({
        code: 'PROTOCOL_ERROR',
        message: expect.stringContaining('BadNotWritable'),
      });
    } finally {
      sim.faults.rejectWrites = false;
    }
    await expect(driver.write(point('pump-speed'), 5000)).rejects.toMatchObject({
      code: 'VALUE_OUT_OF_RANGE',
    });
  });

  it('refuses a wrong password clearly', async () => {
    const other = newDriver();
    try {
      await expect(other.connect({ ...config, password: 'wrong' })).rejects.toMatchObject({
        code: 'PROTOCOL_ERROR',
        message: expect.stringMatching(/refused/),
      });
      expect(other.state()).toBe('offline');
    } finally {
      await other.close();
    }
  });

  it('fails fast when nothing listens', async () => {
    const other = newDriver();
    try {
      await expect(other.connect({ ...config, url: 'opc.tcp://127.0.0.1:1/edgetwin' })).rejects.toMatchObject(
        {
          code: 'DEVICE_UNAVAILABLE',
        },
      );
    } finally {
      await other.close();
    }
  });
});
