import { randomUUID } from 'node:crypto';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { Type } from '@sinclair/typebox';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { TwinUpdate } from '../../device-models/index.js';
import { type EmbeddedBroker, startEmbeddedBroker } from '../broker/embedded-broker.js';
import { EventBus } from './event-bus.js';
import { eventBusContract } from './event-bus-contract.js';
import { ANY_DEVICE, stateUpdate, twinUpdate } from './topics.js';

eventBusContract('embedded aedes broker', () => startEmbeddedBroker({ port: 0 }));
eventBusContract('embedded aedes broker, in-process transport', async () => {
  const broker = await startEmbeddedBroker({ port: 0 });
  return { url: broker.url, stop: broker.stop, transport: broker.localTransport };
});

const external = process.env.MQTT_URL;
if (external)
  eventBusContract(`external broker at ${external}`, async () => ({ url: external, stop: async () => {} }));

/** Sockets, listeners and timers alive now (the test runner's own timers come and go, so callers compare with <=). */
function handles(): { sockets: number; servers: number; timers: number } {
  const all = process.getActiveResourcesInfo();
  const count = (kind: string) => all.filter((k) => k === kind).length;
  return { sockets: count('TCPSocketWrap'), servers: count('TCPServerWrap'), timers: count('Timeout') };
}

/** Expects no more sockets, listeners or timers than `before`. */
function expectNoMoreHandles(before: ReturnType<typeof handles>): void {
  const now = handles();
  expect(now.sockets).toBeLessThanOrEqual(before.sockets);
  expect(now.servers).toBeLessThanOrEqual(before.servers);
  expect(now.timers).toBeLessThanOrEqual(before.timers);
}

/** Resolves, once its socket has closed, with how a TCP connection attempt went ('connected' or the error code). */
function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    let outcome = 'closed';
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      outcome = 'connected';
      socket.destroy();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      outcome = error.code ?? error.message;
    });
    socket.once('close', () => setImmediate(() => resolve(outcome)));
  });
}

describe('embedded broker and EventBus connection handling', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const started = async (
    options: Parameters<typeof startEmbeddedBroker>[0] = {},
  ): Promise<EmbeddedBroker> => {
    const broker = await startEmbeddedBroker({ port: 0, ...options });
    cleanups.push(broker.stop);
    return broker;
  };

  it('accepts the configured username and password, and refuses others with CONNACK 4', async () => {
    const broker = await started({ username: 'edge', password: 's3cret' });
    const bus = await EventBus.connect(broker.url, { username: 'edge', password: 's3cret' });
    cleanups.push(() => bus.close());
    expect(bus.connected).toBe(true);
    const refused = { code: 'EVENTBUS_REFUSED', message: expect.stringMatching(/Bad username or password/i) };
    await expect(EventBus.connect(broker.url, { username: 'edge', password: 'wrong' })).rejects.toMatchObject(
      refused,
    );
    await expect(EventBus.connect(broker.url)).rejects.toMatchObject(refused);
  });

  it('stop() closes every connection, is safe twice, frees the port and leaves no handles', async () => {
    const before = handles();
    const broker = await startEmbeddedBroker({ port: 0 });
    const bus = await EventBus.connect(broker.url, { reconnectPeriodMs: 50 });
    const idle = tcpConnect(broker.port, '127.0.0.1'); // connected, never sends CONNECT
    const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
    await new Promise<void>((resolve) => idle.once('connect', () => resolve()));
    idle.on('error', () => {});

    await Promise.all([broker.stop(), broker.stop()]);
    await broker.stop();
    await idleClosed;
    expect(await probe(broker.port)).toBe('ECONNREFUSED');
    await bus.close();
    expectNoMoreHandles(before);
  });

  it('serves an in-process bus with no socket and no credentials, beside TCP clients that need them', async () => {
    const broker = await started({ username: 'edge', password: 's3cret' });
    const before = handles();
    const inProcess = await EventBus.connect(broker.url, { transport: broker.localTransport() });
    expect(handles().sockets).toBe(before.sockets);
    await expect(EventBus.connect(broker.url, { username: 'edge', password: 'x' })).rejects.toMatchObject({
      code: 'EVENTBUS_REFUSED',
    });
    const tcp = await EventBus.connect(broker.url, { username: 'edge', password: 's3cret' });
    cleanups.push(() => tcp.close());
    const id = `et-${randomUUID().slice(0, 8)}/dev`;
    const heard = async (bus: EventBus) => {
      const states: string[] = [];
      let got!: () => void;
      const both = new Promise<void>((resolve) => (got = resolve));
      await bus.subscribe(stateUpdate(id), Type.Object({ state: Type.String() }), (_t, p) => {
        states.push(p.state);
        if (states.length === 2) got();
      });
      return { states, both };
    };
    const byTcp = await heard(tcp);
    const inProc = await heard(inProcess);
    await inProcess.publishState(id, 'online');
    await tcp.publishState(id, 'offline');
    await Promise.all([byTcp.both, inProc.both]);
    expect(byTcp.states).toEqual(['online', 'offline']);
    expect(inProc.states).toEqual(['online', 'offline']);

    await broker.stop();
    expect(inProcess.connected).toBe(false);
    await expect(inProcess.publishState(id, 'online')).rejects.toMatchObject({ code: 'EVENTBUS_CLOSED' });
    await inProcess.close();
    await expect(EventBus.connect(broker.url, { transport: broker.localTransport() })).rejects.toMatchObject({
      code: 'EVENTBUS_REFUSED',
      message: 'the embedded broker is stopped',
    });
    expectNoMoreHandles(before);
  });

  it('restores subscriptions after the broker comes back', async () => {
    const first = await startEmbeddedBroker({ port: 0 });
    const subscriber = await EventBus.connect(first.url, { reconnectPeriodMs: 50 });
    cleanups.push(() => subscriber.close());
    const topic = stateUpdate(`et-${randomUUID().slice(0, 8)}/dev`);
    let got!: (state: string) => void;
    const received = new Promise<string>((resolve) => (got = resolve));
    await subscriber.subscribe(topic, Type.Object({ state: Type.String() }), (_t, p) => got(p.state));
    const reconnected = new Promise<void>((resolve) => subscriber.onConnect(resolve));

    await first.stop();
    const second = await started({ port: first.port });
    await reconnected;
    const publisher = await EventBus.connect(second.url);
    cleanups.push(() => publisher.close());
    await publisher.publishState(topic.split('/').slice(3, 5).join('/'), 'online');
    expect(await received).toBe('online');
  });

  it('rejects connect with a clear error when nothing answers, and when the port is closed', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });
    const before = handles();
    await expect(
      EventBus.connect(`mqtt://127.0.0.1:${port}`, { connectTimeoutMs: 300 }),
    ).rejects.toMatchObject({
      code: 'EVENTBUS_CONNECT_TIMEOUT',
      message: expect.stringContaining('within 300 ms'),
    });

    const closed = await started();
    await closed.stop();
    await expect(
      EventBus.connect(closed.url, { connectTimeoutMs: 300, reconnectPeriodMs: 100 }),
    ).rejects.toMatchObject({
      code: 'EVENTBUS_CONNECT_TIMEOUT',
      message: expect.stringContaining('ECONNREFUSED'),
    });
    for (const socket of sockets) socket.destroy();
    await Promise.all([...sockets].map((s) => new Promise((resolve) => s.once('close', resolve))));
    expectNoMoreHandles(before);
  });

  it("tells an in-process bus who can hear a topic: MQTT clients' filters, kept while a persistent session is away", async () => {
    const broker = await started();
    const local = await EventBus.connect(broker.url, { transport: broker.localTransport() });
    cleanups.push(() => local.close());
    const id = `et-${randomUUID().slice(0, 8)}/dev`;
    const topic = stateUpdate(id);
    expect(local.heard(topic)).toBe(false);
    // aedes publishes $SYS/…/disconnect/clients once a client is gone and its filters are forgotten.
    const gone: string[] = [];
    const waiters = new Map<string, () => void>();
    await local.subscribe('$SYS/+/disconnect/clients', Type.Unknown(), () => {});
    const disconnected = (clientId: string) => new Promise<void>((resolve) => waiters.set(clientId, resolve));
    const sys = mqtt.connect(broker.url, { clientId: `sys-${id}` });
    cleanups.push(() => sys.endAsync());
    await sys.subscribeAsync('$SYS/+/disconnect/clients');
    sys.on('message', (_t, payload) => {
      gone.push(payload.toString());
      waiters.get(payload.toString())?.();
    });

    const clean = mqtt.connect(broker.url, { clientId: `clean-${id}`, clean: true });
    await clean.subscribeAsync(stateUpdate(ANY_DEVICE), { qos: 1 });
    expect(local.heard(topic)).toBe(true);
    expect(local.heard(stateUpdate(`${id}x`))).toBe(true);
    await clean.unsubscribeAsync(stateUpdate(ANY_DEVICE));
    expect(local.heard(topic)).toBe(false);
    await clean.subscribeAsync(topic);
    expect(local.heard(topic)).toBe(true);
    const cleanGone = disconnected(`clean-${id}`);
    await clean.endAsync();
    await cleanGone;
    expect(local.heard(topic)).toBe(false);

    const persistent = mqtt.connect(broker.url, { clientId: `keep-${id}`, clean: false });
    await persistent.subscribeAsync(topic, { qos: 1 });
    const persistentGone = disconnected(`keep-${id}`);
    await persistent.endAsync();
    await persistentGone;
    expect(local.heard(topic)).toBe(true); // aedes queues QoS 1 messages for it

    const other = await EventBus.connect(broker.url, { transport: broker.localTransport() });
    const otherTopic = stateUpdate(`${id}-other`);
    await other.subscribe(otherTopic, Type.Unknown(), () => {});
    expect(local.heard(otherTopic)).toBe(true);
    await other.close();
    expect(local.heard(otherTopic)).toBe(false);
    expect(gone).toEqual([`clean-${id}`, `keep-${id}`]);
  });

  it('hands its own reports to its own subscriptions directly, and through the broker once a client listens', async () => {
    const broker = await started();
    const local = await EventBus.connect(broker.url, { transport: broker.localTransport() });
    cleanups.push(() => local.close());
    const id = `et-${randomUUID().slice(0, 8)}/dev`;
    const received: unknown[] = [];
    let arrived: (() => void) | undefined;
    await local.subscribe(twinUpdate(ANY_DEVICE), TwinUpdate, (_topic, payload) => {
      received.push(payload.twin);
      arrived?.();
    });
    const next = () => new Promise<void>((resolve) => (arrived = resolve));
    // Nobody else listens: the payload object itself arrives, with no JSON round trip.
    let got = next();
    await local.reportActual(id, { t: { value: '1', type: 'int' } });
    await got;
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ t: { actual: { value: '1' } } });

    // An MQTT client subscribes: it gets the next report, and so does the bus's own subscription.
    const client = mqtt.connect(broker.url, { clientId: `watch-${id}` });
    cleanups.push(() => client.endAsync());
    await client.subscribeAsync(twinUpdate(id), { qos: 1 });
    const seen = new Promise<string>((resolve) => client.once('message', (_t, p) => resolve(p.toString())));
    got = next();
    await local.reportActual(id, { t: { value: '2', type: 'int' } });
    await got;
    expect(JSON.parse(await seen).twin).toMatchObject({ t: { actual: { value: '2' } } });
    expect(received[1]).toMatchObject({ t: { actual: { value: '2' } } });
  });

  it('refuses to start on a port that is taken, leaving nothing behind', async () => {
    const broker = await started();
    await expect(startEmbeddedBroker({ port: broker.port })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});
