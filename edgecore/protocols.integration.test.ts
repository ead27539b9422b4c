import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDevices, type ResolvedDevice, samplesDir } from '../device-models/internal.js';
import {
  type BleSimulator,
  createBleMapper,
  createBleSimulator,
  SimulatedRadio,
} from '../mappers/ble/index.js';
import { loadBuiltInMapper } from '../mappers/index.js';
import { createModbusSimulator, type ModbusSimulator } from '../mappers/modbus/simulator.js';
import { createOpcuaSimulator, type OpcuaSimulator } from '../mappers/opcua/simulator.js';
import { createSerialSimulator, type SerialSimulator } from '../mappers/serial/simulator.js';
import type { ProtocolMapper } from '../sdk/internal.js';
import { type TopicWatcher, watchTopics } from '../sdk/testing/index.js';
import { appUrl } from '../test/support/edge-broker.js';
import { edgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';

/**
 * Every protocol through edgecore as a user runs it: the shipped samples, their simulators, the HTTP API.
 * A desired value set over HTTP reaches each simulator and comes back as reported; a simulator killed
 * mid-run (or the serial scale unplugged) takes only its own device offline, and it comes back.
 */
describe('edgecore with every protocol', () => {
  let dir: string;
  let edge: EdgeCore;
  let watch: TopicWatcher;
  let modbus: ModbusSimulator;
  let opcua: OpcuaSimulator;
  let ble: BleSimulator;
  let serial: SerialSimulator;
  const reached = new Map<string, Record<string, unknown>>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgecore-protocols-'));
    const files = [
      'modbus-tcp-thermostat.yaml',
      'opcua-tank.yaml',
      'ble-thermometer.yaml',
      'serial-scale.yaml',
    ].map((f) => join(samplesDir(), f));
    const { devices } = await loadDevices(files);
    const byProtocol = (p: string) => devices.find((d) => d.protocol === p) as ResolvedDevice;
    modbus = createModbusSimulator(byProtocol('modbus') as never, { transport: { kind: 'tcp', port: 0 } });
    reached.set('default/thermostat-01', await modbus.start());
    opcua = createOpcuaSimulator(byProtocol('opcua') as never, {});
    reached.set('default/tank-01', { ...(await opcua.start()), timeout: 1000 });
    serial = createSerialSimulator(byProtocol('serial') as never, {});
    reached.set('default/scale-01', await serial.start());
    const radio = new SimulatedRadio();
    ble = createBleSimulator(byProtocol('ble'), { radio });
    await ble.start();
    const bleMapper = createBleMapper(() => radio.createBindings()) as unknown as ProtocolMapper;
    edge = new EdgeCore({
      config: edgeConfig({
        dataDir: join(dir, 'data'),
        eventBus: { internal: { port: 0 } },
        http: { port: 0 },
        devices: { dirs: files, watch: false },
      }),
      loadMapper: async (protocol) => (protocol === 'ble' ? bleMapper : loadBuiltInMapper(protocol)),
      adjustDevice: (d) => (reached.has(d.id) ? { ...d, config: { ...d.config, ...reached.get(d.id) } } : d),
    });
    await edge.start();
    watch = await watchTopics(appUrl(edge));
  }, 30_000);

  afterAll(async () => {
    await watch?.close();
    await edge?.stop();
    await Promise.all([modbus?.stop(), opcua?.stop(), ble?.stop(), serial?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  /** Numbers compare as numbers (22.5 is 22.50); anything else, such as a BOOLEAN's "true", as text. */
  const sameValue = (actual: string | undefined, value: string) =>
    Number.isNaN(Number(value)) ? actual === value : Number(actual) === Number(value);

  const reportedAs = (id: string, property: string, value: string) =>
    watch.next((m) => {
      const twin = m.payload.twin as Record<string, { actual?: { value?: string } }> | undefined;
      return (
        m.topic === `$hw/events/device/${id}/twin/update/result` &&
        sameValue(twin?.[property]?.actual?.value, value)
      );
    });

  const stateIs = (id: string, value: string) =>
    watch.next((m) => m.topic === `$hw/events/device/${id}/state/update` && m.payload.state === value);

  async function setDesired(id: string, property: string, value: string) {
    const url = new URL(`${edge.httpUrl}/api/v1/devices/${id}/twins/${property}/desired`);
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(
        url,
        { method: 'PUT', headers: { 'content-type': 'application/json' } },
        (response) => {
          let text = '';
          response.on('data', (chunk) => {
            text += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        },
      );
      request.on('error', reject);
      request.end(JSON.stringify({ value }));
    });
    expect(status, body).toBe(200);
  }

  it.each([
    ['OPC UA', 'default/tank-01', 'pump-speed', '1200', () => opcua.written('pump-speed')],
    ['BLE', 'default/ble-thermometer-01', 'alarm-high', '31.5', () => ble.written('alarm-high')],
    ['Modbus', 'default/thermostat-01', 'setpoint', '22.5', () => modbus.written('setpoint')],
    ['serial', 'default/scale-01', 'tare', 'true', () => serial.written('tare')],
  ])(
    '%s: a desired value set over HTTP reaches the simulator and comes back as reported',
    async (_name, id, property, value, written) => {
      await setDesired(id, property, value);
      await reportedAs(id, property, value);
      if (value === 'true') expect(String(written())).toBe('true');
      else expect(Number(written())).toBeCloseTo(Number(value), 3);
      const device = (await (await fetch(`${edge.httpUrl}/api/v1/devices/${id}`)).json()) as {
        twins: Record<string, { reported: { value: string } }>;
        delta: Record<string, string>;
      };
      expect(device.twins[property]!.reported.value).toBe(value);
      expect(device.delta).not.toHaveProperty(property);
    },
  );

  it('a simulator killed mid-run takes only its own device offline, and it comes back', async () => {
    watch.clear();
    await opcua.stop();
    await stateIs('default/tank-01', 'offline');
    watch.clear();
    // The neighbours keep reporting while the tank is away.
    await watch.next((m) => m.topic === '$hw/events/device/default/thermostat-01/twin/update');
    expect(edge.mapperHost!.runtimes.get('default/thermostat-01')!.state).toBe('online');
    expect(edge.mapperHost!.runtimes.get('default/ble-thermometer-01')!.state).toBe('online');
    await opcua.start();
    await stateIs('default/tank-01', 'online');
  }, 30_000);

  it('the BLE thermometer going off the air takes only its own device offline, and it comes back', async () => {
    watch.clear();
    await ble.stop();
    await stateIs('default/ble-thermometer-01', 'offline');
    expect(edge.mapperHost!.runtimes.get('default/tank-01')!.state).toBe('online');
    expect(edge.mapperHost!.runtimes.get('default/thermostat-01')!.state).toBe('online');
    watch.clear();
    await ble.start();
    await stateIs('default/ble-thermometer-01', 'online');
  }, 30_000);

  it('the serial scale unplugged takes only its own device offline, and it comes back on the same port', async () => {
    watch.clear();
    await serial.stop();
    await stateIs('default/scale-01', 'offline');
    for (const id of ['default/tank-01', 'default/thermostat-01', 'default/ble-thermometer-01'])
      expect(edge.mapperHost!.runtimes.get(id)!.state, id).toBe('online');
    watch.clear();
    // A fresh pty pair at the same path, as an adapter plugged back in: the driver reopens it.
    await serial.start();
    await stateIs('default/scale-01', 'online');
  }, 30_000);
});
