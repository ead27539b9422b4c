import { type ChildProcess, spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Two connected pseudo-terminals: bytes written to one end are read from the other. */
export interface PtyPair {
  /** Path of one end (a symlink to /dev/pts/N inside the pair's directory). */
  a: string;
  /** Path of the other end. */
  b: string;
  /** Stops socat and removes the directory; safe to call twice. */
  close(): Promise<void>;
}

/** How `openPtyPair` starts socat. */
export interface PtyPairOptions {
  /** The socat executable (default `socat` on PATH). */
  socat?: string;
  /**
   * The directory for the two links, created if missing and removed by close(); default a fresh private
   * temporary one. Pass an earlier pair's directory to get a new pair at the same paths, as a USB adapter
   * plugged back in reappears under the same name.
   */
  dir?: string;
}

const PTY_LINE = /PTY is (\S+)/;
const READY_LINE = /starting data transfer loop/;

/**
 * A real serial line for tests: `socat` links two raw ptys, so a Modbus RTU server on `a` and a client on
 * `b` talk through the kernel's tty layer exactly as over a USB adapter. Resolves once socat reports both
 * ptys and has started relaying.
 */
export async function openPtyPair(options: PtyPairOptions = {}): Promise<PtyPair> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'edgetwin-pty-')));
  if (options.dir) await mkdir(dir, { recursive: true, mode: 0o700 });
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const child = spawn(
    options.socat ?? 'socat',
    ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  // Errors after start-up (a failed kill) must not crash the test process; start-up errors reject below.
  child.on('error', () => {});
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A test process that exits without close() must not leave socat behind.
  const killOnExit = () => child.kill('SIGTERM');
  process.once('exit', killOnExit);
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      // A child that never spawned (no pid) emits no 'exit'.
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      process.off('exit', killOnExit);
      await rm(dir, { recursive: true, force: true });
    })();
    return closed;
  };
  try {
    await ready(child);
    await Promise.all([access(a), access(b)]);
  } catch (error) {
    await close().catch(() => {});
    throw error;
  }
  return { a, b, close };
}

/** Waits for socat's "PTY is …" lines (two) and "starting data transfer loop". */
function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let ptys = 0;
    let text = '';
    let output = '';
    const done = (error?: Error) => {
      child.stderr?.off('data', onData);
      child.off('error', onError);
      child.off('exit', onExit);
      // Keep draining stderr so socat never blocks on a full pipe.
      child.stderr?.resume();
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      let newline = text.indexOf('\n');
      while (newline >= 0) {
        const line = text.slice(0, newline);
        text = text.slice(newline + 1);
        output += `${line}\n`;
        if (PTY_LINE.test(line)) ptys += 1;
        else if (READY_LINE.test(line) && ptys >= 2) return done();
        newline = text.indexOf('\n');
      }
    };
    const onError = (error: NodeJS.ErrnoException) => {
      done(
        error.code === 'ENOENT'
          ? new Error('socat not found: apt-get install -y socat', { cause: error })
          : error,
      );
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      done(new Error(`socat exited (${signal ?? code}) before the ptys were ready:\n${output}${text}`));
    };
    child.stderr?.on('data', onData);
    child.once('error', onError);
    child.once('exit', onExit);
  });
}
