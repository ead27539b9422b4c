import { type ChildProcess, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChild, stopChild } from '../support/child.js';
import { waitFor } from '../support/wait-for.js';

/**
 * Flashing a gateway, as an installer does it: `edgetwin bundle` (from dist/, built by `npm run build`), then
 * the bundle's install.sh into a temporary root (--root, --no-systemd: nothing on this machine is touched),
 * the installed `edgetwin edge` against `edgetwin sim modbus`, an upgrade that keeps the twin database and
 * the config, and `install.sh --rollback`.
 */
const bin = new URL('../../dist/edgecore/cli/main.js', import.meta.url).pathname;
const repo = new URL('../../', import.meta.url).pathname;
const sample = join(repo, 'device-models/samples/modbus-tcp-thermostat.yaml');
const ID = 'default/thermostat-01';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, killed after `timeout` ms. */
function run(file: string, args: string[], timeout = 60_000, env = process.env): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: repo, timeout, env, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr: error?.killed ? `${stderr}\n(killed after ${timeout} ms)` : stderr });
      },
    );
  });
}

const edgetwin = (...args: string[]) => run(process.execPath, [bin, ...args], 120_000);

interface Twin {
  desired?: { value: string } | null;
  reported?: { value: string } | null;
}

async function device(http: string): Promise<Record<string, Twin>> {
  const response = await fetch(`${http}/api/v1/devices/${ID}`);
  if (!response.ok) throw new Error(`GET ${ID}: ${response.status}`);
  return ((await response.json()) as { twins: Record<string, Twin> }).twins;
}

describe('edgetwin bundle and deploy/install.sh', () => {
  let dir: string;
  let sim: ChildProcess;
  let devicesDir: string;
  let config: string;
  let bundleA: string;
  const edges: ChildProcess[] = [];

  /** Installs `bundle` (an unpacked directory's install.sh, or `installer` with the archive) into `root`. */
  const install = (installer: string, root: string, ...args: string[]) =>
    run('sh', [installer, '--root', root, '--no-systemd', ...args], 60_000);

  const unpack = async (archive: string, into: string) => {
    await mkdir(into, { recursive: true });
    const result = await run('tar', ['-xzf', archive, '-C', into]);
    expect(result.code, result.stderr).toBe(0);
    return join(into, 'edgetwin-0.1.0-a'); // the label is part of the directory name
  };

  /** The installed edge, as the systemd unit starts it (but with this test's config), and its HTTP API. */
  const startInstalledEdge = async (root: string) => {
    const { child, match } = await startChild(
      join(root, 'opt/edgetwin/current/bin/edgetwin'),
      ['edge', '--config', join(root, 'etc/edgetwin/edge.yaml')],
      /http (http:\/\/\S+)/,
    );
    edges.push(child);
    return { child, http: match[1]! };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-bundle-'));
    // The simulated thermostat on a free port; the gateway's device file points there.
    const started = await startChild(
      process.execPath,
      [bin, 'sim', 'modbus', sample, '--port', '0'],
      /reaches it with .*"port":(\d+)/,
    );
    sim = started.child;
    devicesDir = join(dir, 'devices');
    await mkdir(devicesDir);
    await writeFile(
      join(devicesDir, 'thermostat.yaml'),
      readFileSync(sample, 'utf8').replace('port: 5020', `port: ${started.match[1]}`),
    );
    // The edge.yaml of this test's gateway: everything inside the temporary root, ports chosen by the OS.
    config = join(dir, 'edge.yaml');
    const root = join(dir, 'root');
    await writeFile(
      config,
      [
        `dataDir: ${root}/var/lib/edgetwin`,
        'eventBus: {mode: internal, internal: {port: 0}}',
        'http: {port: 0}',
        `devices: {dirs: [${root}/etc/edgetwin/devices], watch: false}`,
        'twin: {writeBehindMs: 0}',
        '',
      ].join('\n'),
    );
    bundleA = join(dir, 'a.tar.gz');
    const built = await edgetwin(
      'bundle',
      '--devices',
      devicesDir,
      '--config',
      config,
      '--label',
      'a',
      '--level',
      '1',
      '--out',
      bundleA,
    );
    expect(built.code, built.stderr).toBe(0);
  }, 150_000);

  afterAll(async () => {
    await Promise.all([...edges, sim].filter(Boolean).map(stopChild));
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the archive with its size and SHA-256, and writes <out>.sha256', async () => {
    const sha = createHash('sha256').update(readFileSync(bundleA)).digest('hex');
    expect(readFileSync(`${bundleA}.sha256`, 'utf8')).toBe(`${sha}  a.tar.gz\n`);
    const unpacked = await unpack(bundleA, join(dir, 'look'));
    const manifest = JSON.parse(await readFile(join(unpacked, 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({
      version: '0.1.0',
      release: '0.1.0-a',
      arch: process.arch,
      node: { abi: process.versions.modules, bundled: false },
      contents: { list: 'SHA256SUMS' },
    });
    expect(manifest.native.map((n: { package: string }) => n.package)).toContain('better-sqlite3');
    // what the gateway does not need stays out
    expect(existsSync(join(unpacked, 'app/dist/edgecore/cli/main.js'))).toBe(true);
    expect(existsSync(join(unpacked, 'app/dist/bench'))).toBe(false);
    expect(existsSync(join(unpacked, 'app/dist/test'))).toBe(false);
    expect(existsSync(join(unpacked, 'app/node_modules/vitest'))).toBe(false);
    expect(existsSync(join(unpacked, 'app/node_modules/typescript'))).toBe(false);
    expect(existsSync(join(unpacked, 'app/node_modules/better-sqlite3/deps'))).toBe(false);
    expect(existsSync(join(unpacked, 'node'))).toBe(false);
  }, 60_000);

  it('installs, runs the installed edge, upgrades keeping twins and config, rolls back', async () => {
    const root = join(dir, 'root');
    const unpacked = await unpack(bundleA, join(dir, 'unpack-a'));
    const first = await install(join(unpacked, 'install.sh'), root);
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const releaseA = readlinkSync(join(root, 'opt/edgetwin/current'));
    expect(releaseA).toMatch(/^releases\/0\.1\.0-a-\d{8}T\d{6}Z$/);
    expect(statSync(join(root, 'var/lib/edgetwin')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(root, 'etc/edgetwin/edge.yaml'), 'utf8')).toBe(readFileSync(config, 'utf8'));
    expect(readlinkSync(join(root, 'usr/local/bin/edgetwin'))).toBe('/opt/edgetwin/current/bin/edgetwin');
    expect(readFileSync(join(root, 'etc/systemd/system/edgetwin.service'), 'utf8')).toContain(
      'ExecStart=/opt/edgetwin/current/bin/edgetwin edge --config /etc/edgetwin/edge.yaml',
    );

    // the installed edge reads the simulated thermostat; a desired value goes to its holding register
    let edge = await startInstalledEdge(root);
    await waitFor(
      'a reported temperature',
      async () => (await device(edge.http)).temperature?.reported?.value,
    );
    const put = await fetch(`${edge.http}/api/v1/devices/${ID}/twins/setpoint/desired`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ value: '23.5' }),
    });
    expect(put.status).toBe(200);
    await waitFor(
      'setpoint 23.5 reported',
      async () => (await device(edge.http)).setpoint?.reported?.value === '23.5',
    );
    await stopChild(edge.child);

    // the gateway's own change to its config, which an upgrade must keep
    await appendFile(join(root, 'etc/edgetwin/edge.yaml'), '# tuned on site\n');

    // a newer bundle, installed from its archive by the installed install.sh
    const bundleB = join(dir, 'b.tar.gz');
    const built = await edgetwin(
      'bundle',
      '--devices',
      devicesDir,
      '--label',
      'b',
      '--level',
      '1',
      '--out',
      bundleB,
    );
    expect(built.code, built.stderr).toBe(0);
    const upgrade = await install(join(root, 'opt/edgetwin/current/install.sh'), root, bundleB);
    expect(upgrade.code, upgrade.stderr + upgrade.stdout).toBe(0);
    expect(upgrade.stdout).toContain('kept /etc/edgetwin/edge.yaml');
    const releaseB = readlinkSync(join(root, 'opt/edgetwin/current'));
    expect(releaseB).toMatch(/^releases\/0\.1\.0-b-/);
    expect(readlinkSync(join(root, 'opt/edgetwin/previous'))).toBe(releaseA);
    expect(readFileSync(join(root, 'etc/edgetwin/edge.yaml'), 'utf8')).toContain('# tuned on site');

    edge = await startInstalledEdge(root);
    const twins = await device(edge.http);
    expect(twins.setpoint?.desired?.value).toBe('23.5'); // the same database: set before the upgrade
    await waitFor(
      'a reported temperature after the upgrade',
      async () => (await device(edge.http)).temperature?.reported?.value,
    );
    await stopChild(edge.child);

    // the same bundle again changes nothing
    const again = await install(join(root, 'opt/edgetwin/current/install.sh'), root, bundleB);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('nothing to copy');
    expect(readlinkSync(join(root, 'opt/edgetwin/current'))).toBe(releaseB);
    expect(readlinkSync(join(root, 'opt/edgetwin/previous'))).toBe(releaseA);

    // rollback: the previous release is current again, and runs
    const rollback = await run('sh', [
      join(root, 'opt/edgetwin/current/install.sh'),
      '--root',
      root,
      '--no-systemd',
      '--rollback',
    ]);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(readlinkSync(join(root, 'opt/edgetwin/current'))).toBe(releaseA);
    expect(readlinkSync(join(root, 'opt/edgetwin/previous'))).toBe(releaseB);
    const label = JSON.parse(readFileSync(join(root, 'opt/edgetwin/current/manifest.json'), 'utf8')).label;
    expect(label).toBe('a');
    edge = await startInstalledEdge(root);
    expect((await device(edge.http)).setpoint?.desired?.value).toBe('23.5');
    await stopChild(edge.child);
  }, 180_000);

  it('refuses a damaged bundle', async () => {
    const unpacked = await unpack(bundleA, join(dir, 'damaged'));
    await appendFile(join(unpacked, 'app/dist/edgecore/cli/main.js'), '\n// changed\n');
    const result = await install(join(unpacked, 'install.sh'), join(dir, 'root-damaged'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the bundle is damaged');
    expect(existsSync(join(dir, 'root-damaged/opt/edgetwin/current'))).toBe(false);
  }, 60_000);

  it('says what is needed for another arch instead of shipping a broken binary', async () => {
    const other = process.arch === 'arm64' ? 'x64' : 'arm64';
    const result = await edgetwin(
      'bundle',
      '--devices',
      devicesDir,
      '--arch',
      other,
      '--out',
      join(dir, 'x.tar.gz'),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`cannot build a ${other} bundle on this ${process.arch} machine`);
    expect(result.stderr).toContain('better-sqlite3');
    expect(existsSync(join(dir, 'x.tar.gz'))).toBe(false);
  });

  it('generates a unit that systemd-analyze verify accepts', async (ctx) => {
    // its findings on stderr, whatever systemd's log target would be
    const analyze = (unit: string) =>
      run('systemd-analyze', ['verify', unit], 30_000, { ...process.env, SYSTEMD_LOG_TARGET: 'console' });
    if (!existsSync('/usr/bin/systemd-analyze'))
      ctx.skip('no /usr/bin/systemd-analyze (Debian package systemd)');
    // verify must be able to load a unit at all here (it needs the host's unit tree, not a running systemd)
    const probe = join(dir, 'probe.service');
    await writeFile(probe, '[Service]\nExecStart=/bin/true\n');
    const works = await analyze(probe);
    if (works.code !== 0 || works.stderr.trim() !== '')
      ctx.skip(`systemd-analyze verify cannot check units in this container: ${works.stderr.trim()}`);

    const root = join(dir, 'root-verify');
    const unpacked = await unpack(bundleA, join(dir, 'unpack-verify'));
    expect((await install(join(unpacked, 'install.sh'), root)).code).toBe(0);
    // The unit names /opt, /etc and /var paths of the gateway; verify checks ExecStart exists, so the copy
    // checked here points those paths into the temporary root. Everything else is the installed unit.
    const unit = readFileSync(join(root, 'etc/systemd/system/edgetwin.service'), 'utf8');
    const variant = unit
      .replaceAll('/opt/edgetwin', `${root}/opt/edgetwin`)
      .replaceAll('/etc/edgetwin', `${root}/etc/edgetwin`)
      .replaceAll('=/var/lib/edgetwin', `=${root}/var/lib/edgetwin`);
    const checked = join(dir, 'edgetwin.service');
    await writeFile(checked, variant);
    const verify = await analyze(checked);
    expect({ code: verify.code, stderr: verify.stderr.trim() }).toEqual({ code: 0, stderr: '' });
    // and verify does read it: a misspelt value is reported
    const typo = join(dir, 'typo.service');
    await writeFile(typo, variant.replace(/^Restart=always$/m, 'Restart=allways'));
    expect((await analyze(typo)).stderr).toContain('allways');
  }, 60_000);
});
