import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Call, DeviceUnavailable, deadline, loadProtocolMapper, type Point } from '../../sdk/index.js';
import { driverContext } from '../../sdk/testing/index.js';
import { HttpDriver } from './driver.js';
import { httpProtocol } from './protocol.js';
import type { HttpConfig, HttpVisitor } from './schema.js';
import { createHttpSimulator, type HttpSimulator } from './simulator.js';
import { type HttpDevice, plcDevice, samplePlug } from './testdata/devices.js';

/** What the conformance suite does not cover: pointers into arrays, write bodies, error texts, headers. */

const plug = await samplePlug();
const plc = plcDevice(plug);
const call = (): Call => ({ ...deadline(3000), timeoutMs: 500 });
const cleanup: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const stop of cleanup.splice(0).reverse()) await stop();
});

function pointOf(device: HttpDevice, name: string, visitor?: Partial<HttpVisitor>): Point<HttpVisitor> {
  const property = device.properties.find((p) => p.name === name);
  if (!property) throw new Error(`no property ${name}`);
  return { name, visitor: { ...property.visitor, ...visitor }, property: property.model };
}

/** A simulator of `device` (wanting the headers its config names) and a driver connected to it with `headers`. */
async function connected(device: HttpDevice, headers = device.config.headers) {
  const simulator = createHttpSimulator(device, { requireHeaders: device.config.headers ?? {} });
  const driver = new HttpDriver();
  cleanup.push(
    () => simulator.stop(),
    () => driver.close(),
  );
  const config: HttpConfig = { ...device.config, headers, ...(await simulator.start()) };
  await driver.connect(config, call());
  return { simulator, driver, config };
}

/** A server answering every request with `status` and `body`, for what the simulator never says. */
async function rawServer(status: number, body: string): Promise<HttpConfig> {
  const server: Server = createServer((_req, res) => res.writeHead(status).end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  });
  return { baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const writes = (simulator: HttpSimulator) =>
  simulator.requests.filter((r) => r.method !== 'GET').map((r) => [r.method, r.path, JSON.parse(r.body)]);

describe('http driver', () => {
  it('reads through pointers into arrays, as the model types them', async () => {
    const { simulator, driver } = await connected(plc);
    const count = await driver.read(pointOf(plc, 'count'), call());
    expect(Number.isInteger(count.value)).toBe(true);
    simulator.set('count', 7);
    simulator.set('level', 2.25);
    expect((await driver.read(pointOf(plc, 'count'), call())).value).toBe(7);
    expect((await driver.read(pointOf(plc, 'level'), call())).value).toBe(2.25);
    // What it read from: {"tanks": [{"count": 7}, {"level": 2.25}]}
    expect(simulator.requests.at(-1)?.path).toBe('/tanks');
  });

  it('reads a batch with one request per method and path', async () => {
    const { simulator, driver } = await connected(plug);
    const before = simulator.requests.length;
    const results = await driver.readMany(
      plug.properties.map((p) => pointOf(plug, p.name)),
      call(),
    );
    expect(results.map((r) => (r instanceof Error ? r.message : typeof r.value))).toEqual([
      'number',
      'number',
      'boolean',
    ]);
    expect(simulator.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /rpc/Switch.GetStatus?id=0',
    ]);
  });

  it('fills body templates with typed values: a number stays a number, a boolean a boolean', async () => {
    const { simulator, driver } = await connected(plc);
    await driver.write(pointOf(plc, 'speed'), 1200, call());
    await driver.write(pointOf(plc, 'setpoint'), 21.5, call());
    await driver.write(pointOf(plc, 'label'), 'line 2', call());
    await driver.write(pointOf(plc, 'running'), false, call());
    expect(writes(simulator)).toEqual([
      ['PATCH', '/drives/a', { setpoint: { rpm: 1200 } }],
      ['PUT', '/setpoint', 21.5],
      ['POST', '/cmd', { cmd: 'label=line 2' }],
      ['PUT', '/info/run', [false]],
    ]);
    expect((await driver.read(pointOf(plc, 'running'), call())).value).toBe(false);

    const sample = await connected(plug);
    await sample.driver.write(pointOf(plug, 'relay'), true, call());
    expect(writes(sample.simulator)).toEqual([['POST', '/rpc/Switch.Set', { id: 0, on: true }]]);
  });

  it('names the status and what the device said when it refuses', async () => {
    const { simulator, driver } = await connected(plug);
    await expect(driver.write(pointOf(plug, 'relay'), 'yes', call())).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      message: 'POST /rpc/Switch.Set: HTTP 400 Bad Request: {"error":"relay: \\"yes\\" is not a BOOLEAN"}',
    });
    simulator.faults.down = true;
    await expect(driver.read(pointOf(plug, 'power'), call())).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      message: expect.stringContaining('HTTP 503 Service Unavailable'),
    });
  });

  it('sends the configured headers, and reports 401 when the key is wrong', async () => {
    const { simulator, driver } = await connected(plc);
    await driver.read(pointOf(plc, 'level'), call());
    expect(simulator.requests.every((r) => r.headers['x-api-key'] === 'k3y')).toBe(true);

    // The device answers, so it is reachable: connect succeeds, reads fail with what it said.
    const wrong = await connected(plc, { 'X-Api-Key': 'wrong' });
    await expect(wrong.driver.read(pointOf(plc, 'level'), call())).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      message: expect.stringContaining('HTTP 401 Unauthorized'),
    });
  });

  it('refuses a pointer that finds nothing, or finds an object', async () => {
    const { driver } = await connected(plc);
    await expect(
      driver.read(pointOf(plc, 'level', { pointer: '/tanks/7/level' }), call()),
    ).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      message: "GET /tanks: nothing at '/tanks/7/level' in the answer",
    });
    await expect(driver.read(pointOf(plc, 'level', { pointer: '/tanks/1' }), call())).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      message: expect.stringMatching(/^level: \{.*\} is not a value$/),
    });
  });

  it('refuses an answer that is not JSON, or not of the property type', async () => {
    const driver = new HttpDriver();
    cleanup.push(() => driver.close());
    await driver.connect(await rawServer(200, '<html>hello</html>'), call());
    await expect(driver.read(pointOf(plc, 'level'), call())).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      message: expect.stringContaining('GET /tanks: not JSON: <html>hello</html>'),
    });
    await driver.connect(await rawServer(200, '{"tanks":[{"count":"many"}]}'), call());
    await expect(driver.read(pointOf(plc, 'count'), call())).rejects.toMatchObject({
      code: 'PROTOCOL_ERROR',
      message: expect.stringContaining('"many" is not an INT'),
    });
  });

  it('is DEVICE_UNAVAILABLE when nothing listens, and after close', async () => {
    const { simulator, driver, config } = await connected(plug);
    await simulator.stop();
    await expect(driver.read(pointOf(plug, 'power'), call())).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
      message: expect.stringContaining('ECONNREFUSED'),
    });
    await expect(new HttpDriver().connect(config, call())).rejects.toBeInstanceOf(DeviceUnavailable);
    await driver.close();
    await expect(driver.read(pointOf(plug, 'power'), call())).rejects.toMatchObject({
      code: 'DEVICE_UNAVAILABLE',
      message: 'the http device is not connected',
    });
  });

  it('gives the runtime its own reason when it aborts a call (the device stopped)', async () => {
    const { simulator, driver } = await connected(plug);
    simulator.silent = true;
    const controller = new AbortController();
    const reading = driver.read(pointOf(plug, 'power'), { signal: controller.signal, timeoutMs: 10_000 });
    const stopped = new DeviceUnavailable('the device was stopped');
    controller.abort(stopped);
    await expect(reading).rejects.toBe(stopped);
  });

  it('is registered as http: the driver loaded on demand, the simulator on the port asked for', async () => {
    expect(httpProtocol.protocol).toBe('http');
    const mapper = await loadProtocolMapper(httpProtocol);
    expect(mapper.timeoutMs?.(plug.config)).toBe(1000);
    const running = await httpProtocol.createSimulator!(plug, { port: 0 });
    const driver = mapper.createDriver(driverContext());
    cleanup.push(
      () => running.stop(),
      () => driver.close(),
    );
    expect(running.reached.baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await driver.connect({ ...plug.config, ...running.reached }, call());
    expect((await driver.read(pointOf(plug, 'relay'), call())).quality).toBe('good');
  });
});
