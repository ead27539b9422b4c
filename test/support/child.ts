import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/** A long-running child process, and what its output matched once it was ready. */
export interface ReadyChild {
  child: ChildProcess;
  match: RegExpMatchArray;
}

/**
 * Starts `file args` and resolves with the first match of `ready` on its stdout or stderr, within `timeoutMs`;
 * rejects (the child killed) when it exits first or the time is up, with the end of its output.
 */
export async function startChild(
  file: string,
  args: string[],
  ready: RegExp,
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ReadyChild> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const child = spawn(file, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn', ...options.env },
  });
  let text = '';
  try {
    const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${file} not ready within ${timeoutMs} ms: ${text}`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer) => {
        text = (text + chunk.toString()).slice(-8000);
        const found = text.match(ready);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${file} exited (${code}): ${text}`));
      });
    });
    return { child, match };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

/** SIGTERM, then SIGKILL if it has not exited within 10 s; resolves once it has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}
