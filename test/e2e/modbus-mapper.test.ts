import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EmbeddedBroker, startEmbeddedBroker } from '../../sdk/index.js';

/** `edgetwin sim modbus` and `edgetwin mapper modbus` as two processes, as a user runs them. */
const bin = new URL('../../dist/edgecore/cli/main.js', import.meta.url).pathname;
const sample = new URL('../../device-models/samples/modbus-tcp-thermostat.yaml', import.meta.url).pathname;

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves with the first stdout line matching `pattern`. */
function line(child: ChildProcess, pattern: RegExp): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = buffer.match(pattern);
      if (match) resolve(match);
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before printing ${pattern}`)));
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  child.kill('SIGINT');
  const [code] = await once(child, 'exit');
  return code as number | null;
}

describe('edgetwin sim modbus + edgetwin mapper modbus', () => {
  let broker: EmbeddedBroker;
  let dir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    broker = await startEmbeddedBroker({ port: 0 });
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-e2e-'));
  });
  afterAll(async () => {
    for (const child of children) await stop(child);
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes the simulated thermostat on the EventBus and writes a desired setpoint', async () => {
    const sim = start(['sim', 'modbus', sample, '--port', '0']);
    children.push(sim);
    const [, port] = await line(sim, /"port":(\d+)/);
    await writeFile(
      join(dir, 'thermostat.yaml'),
      (await readFile(sample, 'utf8')).replace(/port: \d+/, `port: ${port}`),
    );

    const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    await watcher.subscribeAsync('$hw/events/device/default/thermostat-01/#');
    const messages: { topic: string; payload: Record<string, unknown> }[] = [];
    const arrived = (match: (m: (typeof messages)[number]) => boolean) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (!messages.some(match)) return;
          watcher.off('message', check);
          resolve();
        };
        watcher.on('message', check);
        check();
      });
    watcher.on('message', (topic, payload) =>
      messages.push({ topic, payload: JSON.parse(payload.toString()) }),
    );

    const mapper = start(['mapper', 'modbus', '--broker', broker.url, '--devices', dir]);
    children.push(mapper);
    await arrived((m) => m.topic.endsWith('/state/update') && m.payload.state === 'online');
    await arrived((m) => m.topic.endsWith('/twin/update') && 'temperature' in (m.payload.twin as object));

    await watcher.publishAsync(
      '$hw/events/device/default/thermostat-01/twin/update/delta',
      JSON.stringify({ event_id: 'e2e', timestamp: Date.now(), twin: {}, delta: { setpoint: '19.5' } }),
    );
    await arrived((m) => {
      const twin = m.payload.twin as Record<string, { actual?: { value?: string } }> | undefined;
      return m.topic.endsWith('/twin/update') && twin?.setpoint?.actual?.value === '19.5';
    });
    await watcher.endAsync();

    expect(await stop(mapper)).toBe(0);
    expect(await stop(sim)).toBe(0);
  });
});
