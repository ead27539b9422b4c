import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { samplesDir } from '../device-models/internal.js';
import { edgeConfig } from '../edgecore/config.js';
import { EdgeCore } from '../edgecore/edgecore.js';

/**
 * Twin updates/s through MQTT → twin rules → SQLite (group commit) → update/result, against the same broker
 * echoing the same messages with no twin behind it (the ceiling), in the same run: on the embedded broker,
 * and on an external one (mosquitto) when MQTT_URL is set. CPU is this process's (client, edgecore and, for
 * the embedded broker, the broker) per message.
 */
const ID = 'default/ble-thermometer-01';
const WINDOW = 200;

interface Figure {
  rate: number;
  /** µs of this process's CPU per message. */
  cpu: number;
}

async function pipeline(
  url: string,
  count: number,
  send: (client: mqtt.MqttClient, i: number) => Promise<unknown>,
  resultTopic: string,
): Promise<Figure> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4 });
  let received = 0;
  let sent = 0;
  const done = new Promise<void>((resolve) => {
    client.on('message', () => {
      if (++received >= count) resolve();
      else if (sent < count) void send(client, sent++);
    });
  });
  await client.subscribeAsync(resultTopic, { qos: 1 });
  const cpu = process.cpuUsage();
  const start = performance.now();
  while (sent < Math.min(WINDOW, count)) void send(client, sent++);
  await done;
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  await client.endAsync();
  return { rate: count / seconds, cpu: (used.user + used.system) / count };
}

/** A mapper's report of one property, as the BLE thermometer's mapper sends it: a new value each time, or the same. */
function report(i: number, value = String(i % 80)): string {
  return JSON.stringify({
    event_id: `b${i}`,
    timestamp: Date.now(),
    twin: { temperature: { actual: { value } } },
  });
}

interface Run {
  echo: Figure;
  twin: Figure;
  /** The same value reported again and again: a write each time, but no update/document. */
  repeated: Figure;
}

async function run(dir: string, count: number, external?: string): Promise<Run> {
  const edge = new EdgeCore({
    config: edgeConfig({
      dataDir: join(dir, external ? 'data-external' : 'data'),
      eventBus: external
        ? { mode: 'external', external: { url: external } }
        : { mode: 'internal', internal: { port: 0, auth: 'none' } }, // the bench's clients are anonymous
      http: { port: 0 },
      devices: { dirs: [dir], watch: false },
    }),
  });
  await edge.start();
  try {
    const echoTopic = `bench/echo/${process.pid}`;
    const echo = await pipeline(
      edge.brokerUrl,
      count,
      (c, i) => c.publishAsync(echoTopic, report(i), { qos: 1 }),
      echoTopic,
    );
    const twinOf = (value?: string, n = count) =>
      pipeline(
        edge.brokerUrl,
        n,
        (c, i) => c.publishAsync(`$hw/events/device/${ID}/twin/update`, report(i, value), { qos: 1 }),
        `$hw/events/device/${ID}/twin/update/result`,
      );
    await twinOf(undefined, count / 10); // warm-up: JIT, SQLite's page cache, the WAL
    const twin = await twinOf();
    const repeated = await twinOf('21');
    return { echo, twin, repeated };
  } finally {
    await edge.stop();
  }
}

function lines(broker: string, count: number, { echo, twin, repeated }: Run): string[] {
  const us = (f: Figure) => `${f.cpu.toFixed(0)} µs CPU each`;
  return [
    `twin updates on ${broker}, MQTT QoS1 → rules → SQLite → update/result (${count}, ${WINDOW} in flight): ` +
      `${twin.rate.toFixed(0)} updates/s, ${us(twin)}`,
    `  same broker, same messages echoed with no twin: ${echo.rate.toFixed(0)} msg/s, ${us(echo)}; ` +
      `ratio ${(twin.rate / echo.rate).toFixed(2)}`,
    `  the same value reported every time (result, no document): ${repeated.rate.toFixed(0)} updates/s, ` +
      `${us(repeated)}; ratio ${(repeated.rate / echo.rate).toFixed(2)}`,
  ];
}

export async function benchTwinUpdates(count = 20_000): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-bench-'));
  await writeFile(join(dir, 'ble.yaml'), await readFile(join(samplesDir(), 'ble-thermometer.yaml'), 'utf8'));
  try {
    const out = lines('the embedded broker', count, await run(dir, count));
    const external = process.env.MQTT_URL;
    if (external) out.push(...lines(`${external} (external)`, count, await run(dir, count, external)));
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
