import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';

/** Every regular file under `dir` (symlinks included as files, not followed), sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() || e.isSymbolicLink())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** What the manifest says of the contents: file count, bytes, and the hash of the SHA256SUMS list. */
export interface ContentsDigest {
  files: number;
  bytes: number;
  /** SHA-256 of SHA256SUMS, which holds one `sha256  ./path` line per file (`sha256sum -c` reads it). */
  sha256: string;
}

/**
 * Hashes every file under `dir` (symlinks by their target text) and writes `dir/SHA256SUMS`, the format of
 * coreutils' sha256sum, so the gateway checks the unpacked bundle with `sha256sum -c` before installing it.
 */
export async function writeChecksums(
  dir: string,
  progress: (done: number, total: number) => void,
): Promise<ContentsDigest> {
  const files = (await listFiles(dir)).filter(
    (f) => !['SHA256SUMS', 'manifest.json'].includes(relative(dir, f)),
  );
  const lines: string[] = [];
  let bytes = 0;
  let done = 0;
  for (const file of files) {
    const stat = await lstat(file);
    if (stat.isSymbolicLink()) continue; // sha256sum follows links; their targets are listed themselves
    bytes += stat.size;
    lines.push(`${await sha256File(file)}  ./${relative(dir, file).split(sep).join('/')}`);
    progress(++done, files.length);
  }
  const text = `${lines.join('\n')}\n`;
  await writeFile(join(dir, 'SHA256SUMS'), text);
  return { files: lines.length, bytes, sha256: createHash('sha256').update(text).digest('hex') };
}

/** dist/ without tests, benchmarks, declarations and source maps: what the gateway runs. */
export function keepInDist(distDir: string, file: string): boolean {
  const rel = relative(distDir, file);
  const top = rel.split(sep)[0];
  if (top === 'test' || top === 'bench') return false;
  return !/\.test\.|\.d\.ts$|\.map$/.test(rel);
}

/** `1234567` → `1.2 MB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
