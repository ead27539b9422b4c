import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait-for.js';
import {
  type EdgeProcess,
  freePort,
  startEdgeProcess,
  stopEdgeProcess,
  twinGet,
  within,
  writeEdgeFiles,
} from './edge-process.js';

/**
 * edgecore with `eventBus.mode: external` on Debian's mosquitto, desired values flowing at a steady rate; the
 * broker is killed and started again on the same port. Updates must flow again within 2 s of the broker being
 * back, and no desired value whose result arrived may be lost.
 */

const MOSQUITTO = '/usr/sbin/mosquitto';
const DEVICE = 'broker-restart-01';
const ID = `default/${DEVICE}`;
const topic = (suffix: string) => `$hw/events/device/${ID}/${suffix}`;
const RESTARTS = 3;

function startMosquitto(port: number): ChildProcess {
  // No config file: mosquitto 2 listens on loopback only and allows anonymous clients there.
  const child = spawn(MOSQUITTO, ['-p', String(port)], { stdio: 'ignore' });
  child.on('error', () => {});
  return child;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function killMosquitto(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

describe.skipIf(!existsSync(MOSQUITTO))('edgecore on an external broker that restarts', () => {
  let dir: string;
  let port: number;
  let broker: ChildProcess;
  let edge: EdgeProcess | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faults-broker-'));
    port = await freePort();
    broker = startMosquitto(port);
    await waitFor('mosquitto listening', () => accepts(port), 10_000);
  });
  afterAll(async () => {
    if (edge) await stopEdgeProcess(edge);
    await killMosquitto(broker);
    await rm(dir, { recursive: true, force: true });
  });

  it(`takes updates again within 2 s of each broker restart and loses no desired value (${RESTARTS} restarts)`, async () => {
    const url = `mqtt://127.0.0.1:${port}`;
    const files = await writeEdgeFiles(dir, DEVICE, {
      eventBus: `eventBus: {mode: external, external: {url: "${url}"}}`,
    });
    edge = await startEdgeProcess(files.config);
    expect(edge.broker).toBe(url);

    // An app that reconnects quickly; what it sends while edgecore is not yet back is not acknowledged, so not counted.
    const app: MqttClient = await mqtt.connectAsync(url, {
      protocolVersion: 4,
      clientId: `faults-app-${process.pid}`,
      clean: true,
      reconnectPeriod: 50,
      connectTimeout: 2000,
    });
    app.on('error', () => {});
    const acked = new Map<number, number>(); // seq → when its result arrived
    const refused: string[] = [];
    app.on('message', (_topic, buffer) => {
      const body = JSON.parse(buffer.toString()) as { event_id?: string; code?: number; reason?: string };
      const seq = Number(body.event_id?.slice(1));
      if (!Number.isSafeInteger(seq)) return;
      if (body.code !== undefined) refused.push(`${seq}: ${body.code} ${body.reason}`);
      else acked.set(seq, Date.now());
    });
    // Subscribed again on every connect: mosquitto forgets subscriptions when it restarts.
    const subscribe = () => app.subscribe(topic('twin/update/result'), { qos: 1 });
    app.on('connect', subscribe);
    subscribe();

    let seq = 0;
    let sending = true;
    const sender = (async () => {
      while (sending) {
        seq++;
        if (app.connected)
          app.publish(
            topic('twin/update'),
            JSON.stringify({
              event_id: `s${seq}`,
              timestamp: Date.now(),
              twin: { target: { expected: { value: String(seq) } } },
            }),
            { qos: 1 },
            () => {},
          );
        // Pacing (about 200 updates a second), not synchronisation.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    const recovery: number[] = [];
    try {
      await waitFor('updates acknowledged before any restart', () => acked.size > 50, 10_000);
      for (let restart = 1; restart <= RESTARTS; restart++) {
        await killMosquitto(broker);
        const lastBefore = Math.max(...acked.keys());
        broker = startMosquitto(port);
        await waitFor('mosquitto listening again', () => accepts(port), 10_000);
        const back = Date.now();
        const sentAfter = seq;
        // An update sent after the broker came back is acknowledged: the edge reconnected and resubscribed.
        const flowing = await within(
          `an update acknowledged after restart ${restart}`,
          10_000,
          waitFor(
            'an acknowledged update sent after the restart',
            () => [...acked.keys()].some((s) => s > sentAfter),
            10_000,
            5,
          ),
        );
        expect(flowing).toBe(true);
        const firstAck = Math.min(...[...acked.entries()].filter(([s]) => s > sentAfter).map(([, at]) => at));
        recovery.push(firstAck - back);
        expect(firstAck - back, `restart ${restart}: ms until updates flowed again`).toBeLessThan(2000);
        expect(Math.max(...acked.keys())).toBeGreaterThan(lastBefore);
      }
    } finally {
      sending = false;
      await sender;
    }
    expect(refused).toEqual([]);

    // Every acknowledged desired value is there: values only grow, so the stored one is at least the newest.
    const newest = Math.max(...acked.keys());
    const twins = await twinGet(app, ID);
    expect(Number(twins.target?.expected?.value)).toBeGreaterThanOrEqual(newest);
    await stopEdgeProcess(edge);
    edge = await startEdgeProcess(files.config);
    const view = (await (await fetch(`${edge.http}/api/v1/devices/${ID}`)).json()) as {
      twins: Record<string, { desired: { value: string } | null }>;
    };
    expect(Number(view.twins.target?.desired?.value)).toBeGreaterThanOrEqual(newest);
    await app.endAsync();
    console.log(
      `broker restart: ${RESTARTS} mosquitto restarts, ${acked.size} updates acknowledged, ` +
        `updates flowed again after ${recovery.join(', ')} ms`,
    );
  }, 120_000);
});
