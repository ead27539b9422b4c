import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * Debian's pymodbus as an independent Modbus peer (test/support/pymodbus-plant.py): several unit IDs on one
 * TCP port or one serial line. Unit u holds holding register i = u * 100 + i and input register i = u * 1000 + i.
 */
export interface PymodbusPlant {
  /** The TCP port, or the serial path it serves. */
  where: string;
  /** Unit `unit` stops answering (`restore` brings it back). */
  drop(unit: number): Promise<void>;
  restore(unit: number): Promise<void>;
  /** The holding register as pymodbus holds it now. */
  holding(unit: number, register: number): Promise<number>;
  stop(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('./pymodbus-plant.py', import.meta.url)).replace(/\/dist\//, '/');
export const PYTHON = '/usr/bin/python3';

export async function startPymodbusPlant(
  options: { units?: number[]; serial?: string; baud?: number } = {},
): Promise<PymodbusPlant> {
  const args = [SCRIPT, '--units', (options.units ?? [1, 2, 3, 4]).join(',')];
  if (options.serial) args.push('--serial', options.serial, '--baud', String(options.baud ?? 115_200));
  const child: ChildProcess = spawn(PYTHON, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout! });
  const waiting: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  lines.on('line', (line) => {
    const i = waiting.findIndex((w) => w.match(line));
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(line);
  });
  const exited = once(child, 'exit');
  const next = (match: (line: string) => boolean) =>
    Promise.race([
      new Promise<string>((resolve) => waiting.push({ match, resolve })),
      exited.then(() => {
        throw new Error(
          `pymodbus-plant.py exited (needs Debian's python3-pymodbus and python3-serial-asyncio): ${stderr}`,
        );
      }),
    ]);
  const ready = await next((l) => l.startsWith('ready '));
  const command = async (text: string, reply: (l: string) => boolean = (l) => l === `ok ${text}`) => {
    const answer = next(reply);
    child.stdin!.write(`${text}\n`);
    return answer;
  };
  return {
    where: ready.slice('ready '.length),
    drop: async (unit) => void (await command(`drop ${unit}`)),
    restore: async (unit) => void (await command(`restore ${unit}`)),
    holding: async (unit, register) =>
      Number((await command(`get ${unit} ${register}`, (l) => l.startsWith('value '))).slice(6)),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}
