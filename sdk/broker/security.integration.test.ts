import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCredentials } from '../../test/support/edge-broker.js';
import { type EmbeddedBroker, startEmbeddedBroker } from './embedded-broker.js';
import { type EventBusAccount, eventBusAcl } from './event-bus-acl.js';

/**
 * The embedded broker with the EventBus ACL, reached by real mqtt.js clients on loopback: who gets in, what
 * each role may publish and receive, client ids, packet size and topic checks.
 */

const accounts: Record<string, EventBusAccount> = {
  'mapper-modbus': { password: 'm0dbus-pw', role: { kind: 'mapper', protocol: 'modbus' } },
  viewer: { password: 'viewer-pw', role: { kind: 'read' } },
  operator: { password: 'operator-pw', role: { kind: 'readwrite' } },
};
const protocols: Record<string, string> = { 'default/plc-01': 'modbus', 'default/tank-01': 'opcua' };
const MAX_PACKET = 4096;
const dev = (id: string, suffix: string) => `$hw/events/device/${id}/${suffix}`;

describe('embedded broker with the EventBus ACL', () => {
  let broker: EmbeddedBroker;
  const open: MqttClient[] = [];

  beforeAll(async () => {
    broker = await startEmbeddedBroker({
      port: 0,
      maxPacketSize: MAX_PACKET,
      access: eventBusAcl({ account: (u) => accounts[u], protocolOf: (id) => protocols[id] }),
    });
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.endAsync(true)));
    await broker.stop();
  });

  const connect = async (username?: string, options: IClientOptions = {}) => {
    const url = username
      ? withCredentials(broker.url, { username, password: accounts[username]!.password })
      : broker.url;
    const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, ...options });
    open.push(client);
    return client;
  };

  /** A subscriber that records every message, and resolves `until` once a message with `marker` arrives. */
  const recorder = async (username: string, filter: string) => {
    const client = await connect(username);
    const seen: { topic: string; payload: string }[] = [];
    const waiting = new Map<string, () => void>();
    client.on('message', (topic, payload) => {
      seen.push({ topic, payload: payload.toString() });
      waiting.get(payload.toString())?.();
    });
    // mqtt.js rejects a subscription the broker refused (SUBACK 128)
    const granted = await client.subscribeAsync(filter, { qos: 1 }).then(
      (g) => g[0]!.qos,
      () => 128,
    );
    return {
      seen,
      granted,
      until: (marker: string) =>
        new Promise<void>((resolve) =>
          seen.some((m) => m.payload === marker) ? resolve() : waiting.set(marker, resolve),
        ),
    };
  };

  it('refuses anonymous clients (CONNACK 5) and wrong passwords (CONNACK 4)', async () => {
    await expect(
      mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 }),
    ).rejects.toMatchObject({ code: 5 });
    await expect(
      mqtt.connectAsync(withCredentials(broker.url, { username: 'operator', password: 'viewer-pw' }), {
        protocolVersion: 4,
        reconnectPeriod: 0,
      }),
    ).rejects.toMatchObject({ code: 4 });
    await expect(
      mqtt.connectAsync(withCredentials(broker.url, { username: 'nobody', password: 'x' }), {
        protocolVersion: 4,
        reconnectPeriod: 0,
      }),
    ).rejects.toMatchObject({ code: 4 });
  });

  it("lets a mapper publish its own devices' reports, and drops what it may not publish, on a live connection", async () => {
    const watcher = await recorder('viewer', '$hw/events/#');
    const mapper = await connect('mapper-modbus');
    const forbidden = [
      dev('default/tank-01', 'twin/update'), // another protocol's device
      dev('default/ghost-01', 'state/update'), // a device the edge does not run
      dev('default/plc-01', 'twin/update/delta'), // the edge's outputs
      dev('default/plc-01', 'twin/update/result'),
      dev('default/plc-01', 'twin/update/document'),
      '$hw/events/node/edge-node-1/membership/updated',
    ];
    for (const topic of forbidden) await mapper.publishAsync(topic, `forbidden ${topic}`, { qos: 1 });
    await mapper.publishAsync(dev('default/plc-01', 'state/update'), 'state', { qos: 1 });
    await mapper.publishAsync(dev('default/plc-01', 'twin/update'), 'marker', { qos: 1 });
    await watcher.until('marker');
    expect(watcher.seen).toEqual([
      { topic: dev('default/plc-01', 'state/update'), payload: 'state' },
      { topic: dev('default/plc-01', 'twin/update'), payload: 'marker' },
    ]);
    expect(mapper.connected).toBe(true);
  });

  it("gives a mapper its own devices' deltas through a wildcard, never another's", async () => {
    const mapper = await recorder('mapper-modbus', dev('+/+', 'twin/update/delta'));
    expect(mapper.granted).toBe(1);
    expect((await recorder('mapper-modbus', '$SYS/#')).granted).toBe(128);
    expect((await recorder('mapper-modbus', dev('default/tank-01', 'twin/update/delta'))).granted).toBe(128);
    // Only the edge publishes deltas: in-process, as edgecore's twin module does.
    const edge = broker.localTransport();
    await edge.publish(dev('default/tank-01', 'twin/update/delta'), Buffer.from('not yours'), 1, false);
    await edge.publish(dev('default/plc-01', 'twin/update/delta'), Buffer.from('yours'), 1, false);
    await mapper.until('yours');
    expect(mapper.seen.map((m) => m.payload)).toEqual(['yours']);
    await edge.close();
  });

  it('lets a readwrite app set desired values and a read app only ask', async () => {
    const watcher = await recorder('viewer', '$hw/events/#');
    const reader = await connect('viewer');
    const writer = await connect('operator');
    await reader.publishAsync(dev('default/plc-01', 'twin/update'), 'reader update', { qos: 1 });
    await writer.publishAsync(dev('default/plc-01', 'state/update'), 'writer state', { qos: 1 });
    await writer.publishAsync(dev('default/plc-01', 'twin/update/delta'), 'writer delta', { qos: 1 });
    await reader.publishAsync(dev('default/plc-01', 'twin/get'), 'reader get', { qos: 1 });
    await writer.publishAsync(dev('default/tank-01', 'twin/update'), 'writer update', { qos: 1 });
    await watcher.until('writer update');
    expect(watcher.seen.map((m) => m.payload)).toEqual(['reader get', 'writer update']);
  });

  it('refuses a client id that is connected with other credentials, and keeps the first connection', async () => {
    const mapper = await connect('mapper-modbus', { clientId: 'plc-mapper' });
    await expect(
      mqtt.connectAsync(withCredentials(broker.url, { username: 'operator', password: 'operator-pw' }), {
        protocolVersion: 4,
        reconnectPeriod: 0,
        clientId: 'plc-mapper',
      }),
    ).rejects.toMatchObject({ code: 2 });
    const watcher = await recorder('viewer', dev('default/plc-01', 'twin/update'));
    await mapper.publishAsync(dev('default/plc-01', 'twin/update'), 'still here', { qos: 1 });
    await watcher.until('still here');
    expect(mapper.connected).toBe(true);
    // The same credentials may take their id over, as MQTT says (a mapper restarting).
    const again = await connect('mapper-modbus', { clientId: 'plc-mapper' });
    expect(again.connected).toBe(true);
  });

  it('closes the connection of a packet larger than maxPacketSize as its header arrives, and serves others', async () => {
    const big = await connect('operator');
    big.on('error', () => {}); // ECONNRESET: the broker hung up
    const closed = new Promise((resolve) => big.once('close', () => resolve(undefined)));
    big.publish(dev('default/plc-01', 'twin/update'), Buffer.alloc(MAX_PACKET * 2), { qos: 1 });
    await closed;
    // A header announcing 128 MiB, then a little of it: the broker hangs up without waiting for the rest.
    const huge = await connect('operator');
    huge.on('error', () => {});
    const hungUp = new Promise((resolve) => huge.stream.once('close', resolve));
    huge.stream.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x40]));
    huge.stream.write(Buffer.alloc(64 * 1024));
    await hungUp;
    const watcher = await recorder('viewer', dev('default/plc-01', 'twin/update'));
    const other = await connect('operator');
    await other.publishAsync(dev('default/plc-01', 'twin/update'), 'small', { qos: 1 });
    await watcher.until('small');
  });

  it('closes the connection of a publish on an invalid topic', async () => {
    for (const topic of ['', 'a/+/b', 'a/#', 'bad\u0000topic']) {
      const client = await connect('operator');
      client.on('error', () => {});
      const closed = new Promise((resolve) => client.stream.once('close', resolve));
      client.publish(topic, 'x', { qos: 0 });
      await closed;
    }
  });
});
