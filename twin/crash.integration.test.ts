import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwinStore } from './store.js';

/**
 * A real child process writes twin updates without end and prints the seq of each update whose write()
 * resolved; it is killed with SIGKILL at a random point while writes are in flight. The file must then
 * open cleanly and hold every acknowledged update. The child runs plain node against dist/ (`npm test`
 * builds first; otherwise run `npm run build`).
 */

const twinDir = fileURLToPath(new URL('.', import.meta.url));
const builtDir = fileURLToPath(new URL('../dist/twin/', import.meta.url));
const writer = join(twinDir, 'testdata', 'crash-writer.mjs');
const DEVICES = Array.from({ length: 4 }, (_, d) => `default/d${d}`);
const KILLS = 3;

function assertBuildIsCurrent(): void {
  for (const source of readdirSync(twinDir).filter((f) => /^store(-[a-z-]+)?\.ts$/.test(f))) {
    const built = join(builtDir, source.replace(/\.ts$/, '.js'));
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first`);
    if (statSync(built).mtimeMs < statSync(join(twinDir, source)).mtimeMs)
      throw new Error(`${built} is older than twin/${source}: run \`npm run build\` first`);
  }
}

/** Runs the writer from `first` and SIGKILLs it once `killAfter` acks were read; returns every ack seen. */
async function runAndKill(file: string, first: number, killAfter: number): Promise<number[]> {
  const child: ChildProcess = spawn(process.execPath, [writer, file, String(first)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const acked: number[] = [];
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    acked.push(Number(line));
    if (acked.length === killAfter) child.kill('SIGKILL');
  });
  // 'close' comes after the exit and the end of stdout, so every line the child wrote has been read.
  const [[code, signal]] = await Promise.all([once(child, 'close'), once(lines, 'close')]);
  if (signal !== 'SIGKILL')
    throw new Error(
      `the writer ended by itself (code ${code}, signal ${signal}) after ${acked.length} acks: ${stderr}`,
    );
  return acked;
}

describe('a writer killed with SIGKILL mid-stream', () => {
  let dir: string;

  beforeAll(async () => {
    assertBuildIsCurrent();
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-crash-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`loses no acknowledged update and leaves a sound file (${KILLS} kills)`, async () => {
    const file = join(dir, 'twin.db');
    let first = 1;
    for (let round = 1; round <= KILLS; round++) {
      const killAfter = 1 + Math.floor(Math.random() * 3000);
      const acked = await runAndKill(file, first, killAfter);
      const context = `round ${round}, killed after ${killAfter} acks, ${acked.length} read`;
      expect(acked.length, context).toBeGreaterThanOrEqual(killAfter);

      const store = TwinStore.open(file);
      try {
        const check = new Database(file);
        expect(check.pragma('integrity_check', { simple: true }), context).toBe('ok');
        check.close();

        const outbox = new Map(store.outbox(100).map((r) => [r.deviceId, r.twins]));
        const stored = new Map<string, number>();
        for (const id of DEVICES) {
          const { a, b } = store.twins(id);
          // Both twins of a write and its outbox record commit together or not at all.
          expect(b?.actual?.value, `${context}: ${id} a and b`).toBe(a?.actual?.value);
          expect(outbox.get(id)?.a?.actual?.value, `${context}: ${id} outbox`).toBe(a?.actual?.value);
          stored.set(id, Number(a?.actual?.value ?? 0));
        }
        // Every acknowledged update is there (values only grow, so a later one may have replaced it).
        const lost = acked.filter((seq) => (stored.get(DEVICES[seq % DEVICES.length]!) ?? 0) < seq);
        expect(lost, context).toEqual([]);
        first = Math.max(...stored.values()) + 1;
      } finally {
        store.close();
      }
    }
  });
});
