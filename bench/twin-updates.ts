import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { samplesDir } from '../device-models/index.js';
import { edgeConfig } from '../edgecore/config.js';
import { EdgeCore } from '../edgecore/edgecore.js';

/**
 * Twin updates/s through MQTT → twin rules → SQLite (group commit) → update/result, against the same broker
 * echoing the same messages with no twin behind it (the ceiling), in the same run.
 */
const ID = 'default/ble-thermometer-01';

async function pipeline(
  url: string,
  count: number,
  window: number,
  send: (client: mqtt.MqttClient, i: number) => Promise<unknown>,
  resultTopic: string,
): Promise<number> {
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
  const start = performance.now();
  while (sent < Math.min(window, count)) void send(client, sent++);
  await done;
  const rate = count / ((performance.now() - start) / 1000);
  await client.endAsync();
  return rate;
}

export async function benchTwinUpdates(count = 20_000): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'edgetwin-bench-'));
  await writeFile(join(dir, 'ble.yaml'), await readFile(join(samplesDir(), 'ble-thermometer.yaml'), 'utf8'));
  const edge = new EdgeCore({
    config: edgeConfig({
      dataDir: join(dir, 'data'),
      eventBus: { internal: { port: 0 } },
      http: { port: 0 },
      devices: { dirs: [dir], watch: false },
    }),
  });
  await edge.start();
  try {
    const update = (i: number) =>
      JSON.stringify({
        event_id: `b${i}`,
        timestamp: Date.now(),
        twin: { temperature: { actual: { value: String(i % 80) } } },
      });
    const echo = await pipeline(
      edge.brokerUrl,
      count,
      200,
      (c, i) => c.publishAsync('bench/echo', update(i), { qos: 1 }),
      'bench/echo',
    );
    const twin = await pipeline(
      edge.brokerUrl,
      count,
      200,
      (c, i) => c.publishAsync(`$hw/events/device/${ID}/twin/update`, update(i), { qos: 1 }),
      `$hw/events/device/${ID}/twin/update/result`,
    );
    return [
      `twin updates, MQTT QoS1 → rules → SQLite → update/result (${count}, 200 in flight): ${twin.toFixed(0)} updates/s`,
      `  same broker, same messages echoed with no twin: ${echo.toFixed(0)} msg/s; ratio ${(twin / echo).toFixed(2)}`,
    ];
  } finally {
    await edge.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
