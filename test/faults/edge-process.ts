import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';

/**
 * edgecore as its own process, as a user runs it (`node dist/edgecore/cli/main.js edge --config …`), for the
 * fault suite. `npm run test:faults` builds first.
 */

export const BIN = fileURLToPath(new URL('../../dist/edgecore/cli/main.js', import.meta.url));

/**
 * The embedded broker as the fault suite opens it: anonymous clients, KubeEdge-style (`auth: none`; the default
 * requires credentials and a per-topic ACL, which is not what these tests are about).
 */
export const OPEN_BROKER = '{port: 0, auth: none}';

/**
 * A device on a protocol of its own (no mapper runs, nothing is dialled): `target` takes desired values,
 * `reading` reported ones, `level` is a bounded FLOAT. `name` makes topics unique per suite.
 */
export function deviceYaml(name: string): string {
  return `
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: ${name}-model, namespace: default }
spec:
  protocol: faultProtocol
  properties:
    - { name: target, type: STRING, accessMode: ReadWrite }
    - { name: reading, type: INT, accessMode: ReadOnly }
    - { name: level, type: FLOAT, accessMode: ReadWrite, minimum: "0", maximum: "100" }
    - { name: enabled, type: BOOLEAN, accessMode: ReadWrite }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: ${name}, namespace: default }
spec:
  deviceModelRef: { name: ${name}-model }
  nodeName: edge-node-1
  protocol: { protocolName: faultProtocol }
  properties:
    - { name: target, reportToCloud: true }
    - { name: reading, reportToCloud: true }
    - { name: level, reportToCloud: true, desired: { value: "10" } }
    - { name: enabled, reportToCloud: true }
`;
}

export interface EdgeFiles {
  config: string;
  dataDir: string;
}

/** Writes the device YAML and an edge.yaml (ports 0, no watch) into `dir`; `eventBus` overrides the broker part. */
export async function writeEdgeFiles(
  dir: string,
  device: string,
  options: { dataDir?: string; eventBus?: string } = {},
): Promise<EdgeFiles> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  const dataDir = options.dataDir ?? join(dir, 'data');
  await writeFile(join(dir, `${device}.yaml`), deviceYaml(device));
  const config = join(dir, 'edge.yaml');
  await writeFile(
    config,
    [
      `dataDir: ${dataDir}`,
      options.eventBus ?? `eventBus: {mode: internal, internal: ${OPEN_BROKER}}`,
      'http: {port: 0}',
      `devices: {dirs: [${dir}], watch: false}`,
    ].join('\n'),
  );
  return { config, dataDir };
}

export interface EdgeProcess {
  child: ChildProcess;
  broker: string;
  http: string;
  /** What the process wrote on stderr so far (its log). */
  log(): string;
  /** Resolves once the process is gone, with its exit code and signal. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** Starts edgecore and resolves once it printed its broker and HTTP addresses; rejects if it exits first. */
export async function startEdgeProcess(config: string, timeoutMs = 20_000): Promise<EdgeProcess> {
  const child = spawn(process.execPath, [BIN, 'edge', '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' },
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let text = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    if (text.length > 1_000_000) text = text.slice(-500_000);
  });
  const found = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`edgecore did not start within ${timeoutMs} ms: ${text}`));
    }, timeoutMs);
    const look = () => {
      const match = text.match(/broker (mqtt:\/\/\S+), http (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        child.stderr!.off('data', look);
        resolve(match);
      }
    };
    child.stderr!.on('data', look);
    void exited.then(([code, signal]) => {
      clearTimeout(timer);
      reject(new Error(`edgecore exited (${code ?? signal}) before it started: ${text}`));
    });
  });
  return { child, broker: found[1]!, http: found[2]!, log: () => text, exited };
}

/** Stops the process with SIGINT (a clean stop), or SIGKILL when it has not gone within `timeoutMs`. */
export async function stopEdgeProcess(edge: EdgeProcess, timeoutMs = 10_000): Promise<void> {
  if (edge.child.exitCode !== null || edge.child.signalCode !== null) return;
  edge.child.kill('SIGINT');
  const timer = setTimeout(() => edge.child.kill('SIGKILL'), timeoutMs);
  await edge.exited;
  clearTimeout(timer);
}

/** A free TCP port on loopback: bound on port 0, then released. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An mqtt.js client (MQTT 3.1.1), anonymous. */
export function connectClient(url: string, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 4, connectTimeout: 5000, ...options });
}

/** Resolves with `work`, or rejects naming `what` after `ms`. */
export async function within<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

type TwinView = Record<string, { expected?: { value?: string }; actual?: { value?: string } } | null>;

/** `twin/get` over MQTT: the device's twins as edgecore answers them. */
export async function twinGet(client: MqttClient, id: string, timeoutMs = 5000): Promise<TwinView> {
  const eventId = `get-${Math.random().toString(36).slice(2)}`;
  const resultTopic = `$hw/events/device/${id}/twin/get/result`;
  await client.subscribeAsync(resultTopic, { qos: 1 });
  const answer = new Promise<TwinView>((resolve, reject) => {
    const onMessage = (topic: string, payload: Buffer) => {
      if (topic !== resultTopic) return;
      const body = JSON.parse(payload.toString()) as { event_id?: string; twin?: TwinView; code?: number };
      if (body.event_id !== eventId) return;
      client.off('message', onMessage);
      if (body.twin) resolve(body.twin);
      else reject(new Error(`twin/get answered ${JSON.stringify(body)}`));
    };
    client.on('message', onMessage);
  });
  await client.publishAsync(
    `$hw/events/device/${id}/twin/get`,
    JSON.stringify({ event_id: eventId, timestamp: Date.now() }),
    { qos: 1 },
  );
  return within(`twin/get/result of ${id}`, timeoutMs, answer);
}
