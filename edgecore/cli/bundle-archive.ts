import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { basename, dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

/**
 * `dir` as a .tar.gz at `out`: GNU tar (Debian's `tar`, on every build machine and gateway) writes the
 * archive — sorted names, owner root, one mtime, so two builds of the same tree differ only by what changed —
 * and Node's zlib compresses it, counting the bytes for `progress` and hashing the result on the way.
 * Resolves to the archive's size and SHA-256.
 */
export async function writeTarGz(
  dir: string,
  out: string,
  options: { mtime: Date; level?: number; totalBytes: number; progress(done: number, total: number): void },
): Promise<{ bytes: number; sha256: string }> {
  const tar = spawn(
    'tar',
    [
      '--create',
      '--file=-',
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      `--mtime=@${Math.floor(options.mtime.getTime() / 1000)}`,
      '--format=gnu',
      '-C',
      dirname(dir),
      basename(dir),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  tar.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve, reject) => {
    tar.once('error', (error) => reject(new Error(`cannot run tar: ${error.message}`)));
    tar.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`tar exited ${code}: ${stderr}`)),
    );
  });
  let read = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      read += chunk.length;
      options.progress(read, options.totalBytes);
      callback(null, chunk);
    },
  });
  const hash = createHash('sha256');
  let bytes = 0;
  const digest = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  await Promise.all([
    pipeline(tar.stdout, count, createGzip({ level: options.level ?? 6 }), digest, createWriteStream(out)),
    exited,
  ]);
  return { bytes, sha256: hash.digest('hex') };
}
