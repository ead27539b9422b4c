import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * The public surface of the package's entry points, as text to commit and compare: the declarations
 * `tsc --declaration` emits for `edgetwin/sdk`, `edgetwin/sdk/testing` and `edgetwin/device-models`, and for
 * every module of the package they re-export from (followed through `export … from`), each file under its
 * path. What an author can import is all there, and so is any change to it.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));

export const ENTRY_POINTS = ['sdk/index', 'sdk/testing/index', 'device-models/index'] as const;

export async function publicSurface(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'edgetwin-dts-'));
  try {
    await promisify(execFile)(
      process.execPath,
      [
        join(root, 'node_modules/typescript/bin/tsc'),
        '-p',
        join(root, 'tsconfig.json'),
        '--declaration',
        '--emitDeclarationOnly',
        '--noEmit',
        'false',
        '--sourceMap',
        'false',
        '--outDir',
        out,
      ],
      { cwd: root, timeout: 120_000 },
    ).catch((error: { stdout?: string }) => {
      // Type errors still emit declarations; the type check itself is `npm test`'s first step.
      if (!error.stdout) throw error;
    });
    const seen = new Set<string>();
    const sections: string[] = [];
    const queue: string[] = ENTRY_POINTS.map((entry) => `${entry}.d.ts`);
    while (queue.length > 0) {
      const file = queue.shift()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const text = await readFile(join(out, file), 'utf8');
      const body = text.replace(/^\/\/# sourceMappingURL=.*$/m, '').trim();
      sections.push(`// ${file}\n${body}\n`);
      for (const [, from] of body.matchAll(/^export\s[^;]*?\sfrom\s+'(\.{1,2}\/[^']+)\.js';/gms))
        queue.push(relative(out, join(out, dirname(file), `${from}.d.ts`)));
    }
    return `${sections.join('\n')}`;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
