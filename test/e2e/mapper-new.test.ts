import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `edgetwin mapper new`, run from dist/ as a user runs it (`npm test` builds dist/ first): a scaffold inside this
 * repository, and one as its own npm project on the packed edgetwin. Either one type-checks, and its conformance
 * suite runs and fails on the driver's TODOs (not on an import).
 */
const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'dist/edgecore/cli/main.js');
const PROTOCOL = 'probe-link';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a program to its end, killed after `timeoutMs`; never rejects. */
function run(file: string, args: string[], cwd: string, timeoutMs: number): Promise<Result> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      {
        cwd,
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 32 * 1024 * 1024,
        env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr, ms: Date.now() - started });
      },
    );
  });
}

const edgetwin = (args: string[], cwd: string) => run(process.execPath, [bin, ...args], cwd, 20_000);

/** Where a failed check shows what the child said. */
const shown = (r: Result) => `exit ${r.code} after ${r.ms} ms\n${r.stdout}\n${r.stderr}`.slice(-6000);

describe('edgetwin mapper new, inside the repository', () => {
  let dir: string;
  beforeAll(async () => {
    // A folder of its own under mappers/ (a dot folder: the repository's tsc does not pick it up meanwhile).
    dir = await mkdtemp(join(root, 'mappers', '.tmp-mapper-new-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes the mapper folder, importing the SDK by relative path', async () => {
    const result = await edgetwin(['mapper', 'new', PROTOCOL, '--dir', dir], root);
    expect(result.code, shown(result)).toBe(0);
    expect(result.stdout).toContain(`created the ${PROTOCOL} mapper in this repository: ${dir}`);
    expect((await readdir(dir, { recursive: true })).sort()).toEqual(
      [
        'conformance.integration.test.ts',
        'driver.ts',
        'index.ts',
        'schema.ts',
        'simulator.ts',
        'testdata',
        `testdata/${PROTOCOL}-device.yaml`,
      ].sort(),
    );
    const index = readFileSync(join(dir, 'index.ts'), 'utf8');
    expect(index).toContain("import { defineRegistration } from '../../sdk/index.js';");
    expect(index).toContain('export const probeLinkProtocol = defineRegistration({');
  });

  it('refuses to overwrite without --force, and overwrites with it', async () => {
    const refused = await edgetwin(['mapper', 'new', PROTOCOL, '--dir', dir], root);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('file(s) exist');
    expect(refused.stderr).toContain('--force overwrites them');
    const forced = await edgetwin(['mapper', 'new', PROTOCOL, '--dir', dir, '--force'], root);
    expect(forced.code, shown(forced)).toBe(0);
  });

  it('refuses a built-in protocol name and a name that is not lowercase-with-dashes', async () => {
    for (const name of ['modbus', 'http', 'serial']) {
      const result = await edgetwin(['mapper', 'new', name, '--dir', join(dir, 'never')], root);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`"${name}" is a built-in protocol`);
    }
    for (const name of ['Acme', 'acme_link', '9lives', 'acme-', 'acme--link']) {
      const result = await edgetwin(['mapper', 'new', name, '--dir', join(dir, 'never')], root);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`"${name}" is not a protocol name for a mapper`);
    }
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('type-checks and passes biome', async () => {
    await writeFile(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: '../../tsconfig.json',
        include: ['*.ts'],
        compilerOptions: { noEmit: true },
      }),
    );
    const tsc = await run(
      join(root, 'node_modules/.bin/tsc'),
      ['-p', join(dir, 'tsconfig.json')],
      root,
      60_000,
    );
    // Only the scaffold's own diagnostics count: files elsewhere in the tree may be mid-edit.
    const mine = tsc.stdout.split('\n').filter((line) => line.includes(relative(root, dir)));
    expect(mine, shown(tsc)).toEqual([]);
    const files = ['index.ts', 'schema.ts', 'driver.ts', 'simulator.ts', 'conformance.integration.test.ts'];
    const biome = await run(
      join(root, 'node_modules/.bin/biome'),
      ['check', ...files.map((f) => join(dir, f))],
      root,
      30_000,
    );
    expect(biome.code, shown(biome)).toBe(0);
  }, 90_000);

  it('runs the conformance suite, which fails on the TODOs of the driver', async () => {
    const test = relative(root, join(dir, 'conformance.integration.test.ts'));
    const vitest = await run(join(root, 'node_modules/.bin/vitest'), ['run', test], root, 90_000);
    const output = vitest.stdout + vitest.stderr;
    expect(vitest.code, shown(vitest)).toBe(1);
    expect(output, shown(vitest)).toMatch(/Tests\s+\d+ failed/);
    expect(output).toContain(`mapper conformance: ${PROTOCOL}`);
    expect(output).toContain(`TODO: implement connect in ${relative(root, dir)}/driver.ts`);
  }, 120_000);
});

describe('edgetwin mapper new, as its own npm project on the packed edgetwin', () => {
  let tmp: string;
  let project: string;
  let tarball: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'edgetwin-mapper-new-'));
    project = join(tmp, `edgetwin-mapper-${PROTOCOL}`);
    // What `npm publish` would ship. --ignore-scripts: pack's `prepare` would rebuild dist/ under the e2e files
    // running beside this one; `npm test` has just built it.
    const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], root, 60_000);
    expect(pack.code, shown(pack)).toBe(0);
    tarball = join(tmp, pack.stdout.trim().split('\n').pop()!);
    console.info(`npm pack: ${pack.ms} ms`);
  }, 90_000);
  afterAll(() => rm(tmp, { recursive: true, force: true }));

  it('writes an npm project outside the repository, by default in ./edgetwin-mapper-<name>', async () => {
    const result = await edgetwin(['mapper', 'new', PROTOCOL], tmp);
    expect(result.code, shown(result)).toBe(0);
    expect(result.stdout).toContain(`created the ${PROTOCOL} mapper as an npm project: ${project}`);
    const pkg = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
    const ours = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(pkg).toMatchObject({
      name: `edgetwin-mapper-${PROTOCOL}`,
      type: 'module',
      exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
      dependencies: { '@sinclair/typebox': ours.dependencies['@sinclair/typebox'] },
      peerDependencies: { edgetwin: `^${ours.version}` },
      devDependencies: {
        edgetwin: `^${ours.version}`,
        typescript: ours.devDependencies.typescript,
        vitest: ours.devDependencies.vitest,
        '@types/node': ours.devDependencies['@types/node'],
      },
    });
    const index = readFileSync(join(project, 'src/index.ts'), 'utf8');
    expect(index).toContain("from 'edgetwin/sdk'");
    expect(index).toContain('export default probeLinkProtocol;');
    expect(readFileSync(join(project, 'test/conformance.integration.test.ts'), 'utf8')).toContain(
      "from 'edgetwin/sdk/testing'",
    );
  });

  it('installs, type-checks, runs its conformance suite (failing on the TODOs) and builds a plug-in', async () => {
    // From the npm cache (the packages are this repository's). --ignore-scripts: edgetwin's native dependencies
    // (better-sqlite3 compiles ~1 min) are not what a mapper's tests load.
    const install = await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball],
      project,
      150_000,
    );
    expect(install.code, shown(install)).toBe(0);
    console.info(`npm install: ${install.ms} ms`);

    const tsc = await run(join(project, 'node_modules/.bin/tsc'), ['--noEmit'], project, 60_000);
    expect(tsc.code, shown(tsc)).toBe(0);

    const vitest = await run(join(project, 'node_modules/.bin/vitest'), ['run'], project, 90_000);
    const output = vitest.stdout + vitest.stderr;
    expect(vitest.code, shown(vitest)).toBe(1);
    expect(output, shown(vitest)).toMatch(/Tests\s+\d+ failed/);
    expect(output).toContain(`mapper conformance: ${PROTOCOL}`);
    expect(output).toContain('TODO: implement connect in src/driver.ts');

    // As edgecore loads a plug-in: the package's default export is the registration object.
    const build = await run('npm', ['run', 'build'], project, 60_000);
    expect(build.code, shown(build)).toBe(0);
    const plugin = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import('edgetwin-mapper-${PROTOCOL}'); const d = await m.default.loadDriver();` +
          ' console.log(m.default.protocol, typeof d.createDriver, typeof m.default.createSimulator);',
      ],
      project,
      20_000,
    );
    expect(plugin.stdout.trim(), shown(plugin)).toBe(`${PROTOCOL} function function`);
    console.info(
      `install ${install.ms} ms, tsc ${tsc.ms} ms, vitest ${vitest.ms} ms, build ${build.ms} ms, import ${plugin.ms} ms`,
    );
  }, 300_000);
});
