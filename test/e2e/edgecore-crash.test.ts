import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * edgecore as its own process, killed with SIGKILL in the middle of a stream of twin updates: it restarts
 * with an intact database and every update it acknowledged (answered on update/result) is there.
 */
const bin = new URL('../../dist/edgecore/cli/main.js', import.meta.url).pathname;
const bleSample = new URL('../../device-models/samples/ble-thermometer.yaml', import.meta.url).pathname;
const ID = 'default/ble-thermometer-01';

async function startEdge(config: string): Promise<{ child: ChildProcess; broker: string; http: string }> {
  const child = spawn(process.execPath, [bin, 'edge', '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let text = '';
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const found = text.match(/broker (mqtt:\/\/\S+), http (http:\/\/\S+)/);
      if (found) resolve(found);
    });
    child.once('exit', (code) => reject(new Error(`edgecore exited (${code}): ${text}`)));
  });
  return { child, broker: match[1]!, http: match[2]! };
}

describe('edgecore killed with SIGKILL', () => {
  let dir: string;
  let config: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgecore-crash-'));
    await writeFile(join(dir, 'ble.yaml'), await readFile(bleSample, 'utf8'));
    config = join(dir, 'edge.yaml');
    await writeFile(
      config,
      [
        `dataDir: ${join(dir, 'data')}`,
        'eventBus: {mode: internal, internal: {port: 0, auth: none}}', // crash safety, not the ACL
        'http: {port: 0}',
        `devices: {dirs: [${dir}], watch: false}`,
      ].join('\n'),
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('keeps every acknowledged update, three kills in a row', async () => {
    let seq = 0;
    for (let round = 0; round < 3; round++) {
      const edge = await startEdge(config);
      const client = await mqtt.connectAsync(edge.broker, { protocolVersion: 4 });
      let acked = -1;
      const killAt = 100 + Math.floor(Math.random() * 200);
      const killed = new Promise<void>((resolve) => {
        client.on('message', (_topic, buffer) => {
          const twin = JSON.parse(buffer.toString()).twin as
            | Record<string, { actual?: { value: string } }>
            | undefined;
          const value = Number(twin?.temperature?.actual?.value);
          if (Number.isFinite(value)) acked = Math.max(acked, value);
          if (acked >= killAt + round * 1000) {
            edge.child.kill('SIGKILL');
            resolve();
          }
        });
      });
      await client.subscribeAsync(`$hw/events/device/${ID}/twin/update/result`, { qos: 1 });
      seq = round * 1000;
      const exited = once(edge.child, 'exit').catch(() => {});
      const stream = (async () => {
        // Keep updates flowing, many in flight, until the process is gone.
        while (edge.child.exitCode === null && edge.child.signalCode === null) {
          const batch = Array.from({ length: 20 }, () => {
            seq++;
            return client.publishAsync(
              `$hw/events/device/${ID}/twin/update`,
              JSON.stringify({
                event_id: `s${seq}`,
                timestamp: Date.now(),
                twin: { temperature: { actual: { value: String(seq) } } },
              }),
              { qos: 1 },
            );
          });
          await Promise.race([Promise.all(batch), exited]);
        }
      })();
      await killed;
      await exited;
      await stream;
      client.end(true);

      const db = new Database(join(dir, 'data', 'edgetwin.db'));
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();

      const restarted = await startEdge(config);
      try {
        const device = (await (await fetch(`${restarted.http}/api/v1/devices/${ID}`)).json()) as {
          twins: Record<string, { reported: { value: string } | null }>;
        };
        expect(Number(device.twins.temperature!.reported!.value)).toBeGreaterThanOrEqual(acked);
      } finally {
        restarted.child.kill('SIGINT');
        await once(restarted.child, 'exit');
      }
    }
  }, 60_000);
});
