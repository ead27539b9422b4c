import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `edgetwin edge` without a cloud link and with only a Modbus device loads neither the cloud side nor other
 * protocols' stacks. A loader hook in the child records every package resolved (ESM `resolve` hook and the
 * CommonJS loader) with the package that asked for it; the test asks the child for the list over IPC.
 */

const bin = process.env.EDGETWIN_BIN ?? new URL('../../dist/edgecore/cli/main.js', import.meta.url).pathname;
const sample = new URL('../../device-models/samples/modbus-tcp-thermostat.yaml', import.meta.url).pathname;

const HOOKS = `
const pkg = (url) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(url ?? '')?.[1] ?? '(edgetwin)';
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  if (resolved.url.includes('/node_modules/')) port.postMessage([pkg(resolved.url), pkg(context.parentURL)]);
  return resolved;
}
`;

const RECORDER = `
import Module, { register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const pkg = (url) => /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(url ?? '')?.[1] ?? '(edgetwin)';
const loaded = new Map();
const note = ([name, by]) => { if (!loaded.has(name)) loaded.set(name, new Set()); loaded.get(name).add(by); };
const { port1, port2 } = new MessageChannel();
port1.on('message', note);
port1.unref();
register(new URL('./hooks.mjs', import.meta.url), { data: { port: port2 }, transferList: [port2] });
const load = Module._load;
Module._load = function (request, parent, isMain) {
  try {
    const file = Module._resolveFilename(request, parent, isMain);
    if (file.includes('/node_modules/')) note([pkg(file), pkg(parent?.filename)]);
  } catch {}
  return load.apply(this, arguments);
};
process.on('message', () => process.send(Object.fromEntries([...loaded].map(([k, v]) => [k, [...v]]))));
`;

describe('edgetwin edge, Modbus only, no cloud', () => {
  let dir: string;
  let child: ChildProcess;
  let loaded: Record<string, string[]>;
  let silent: Server | undefined;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgetwin-imports-'));
    await writeFile(join(dir, 'hooks.mjs'), HOOKS);
    await writeFile(join(dir, 'recorder.mjs'), RECORDER);
    // A listener of our own on port 0 that accepts and never answers: the mapper connects, no simulator is needed.
    const server = createServer((socket) => sockets.add(socket));
    silent = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const yaml = (await readFile(sample, 'utf8')).replace(/port: 5020/, `port: ${port}`);
    await writeFile(join(dir, 'thermostat.yaml'), yaml);
    await writeFile(
      join(dir, 'edge.yaml'),
      JSON.stringify({
        nodeName: 'edge-node-1',
        dataDir: join(dir, 'data'),
        eventBus: { internal: { port: 0 } },
        http: { port: 0 },
        devices: { dirs: [join(dir, 'thermostat.yaml')], watch: false },
      }),
    );
    child = spawn(
      process.execPath,
      ['--import', join(dir, 'recorder.mjs'), bin, 'edge', '--config', join(dir, 'edge.yaml')],
      { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, LOG_LEVEL: 'warn' } },
    );
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/edgecore edge-node-1: broker/.test(stderr)) resolve();
      });
      child.on('exit', () => reject(new Error(`edgetwin edge exited: ${stderr}`)));
    });
    const answer = once(child, 'message');
    child.send('loaded');
    [loaded] = (await answer) as [Record<string, string[]>];
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.disconnect();
      child.kill('SIGTERM');
      await exited;
    }
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => (silent ? silent.close(resolve) : resolve(undefined)));
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the Modbus stack (the hook sees what the mapper loads on demand)', () => {
    expect(Object.keys(loaded)).toEqual(expect.arrayContaining(['modbus-serial', 'better-sqlite3', 'aedes']));
  });

  it('loads no MQTT client: its own bus reaches the embedded broker in-process', () => {
    expect(loaded.mqtt, 'mqtt').toBeUndefined();
    expect(loaded['mqtt-packet'] ?? [], 'mqtt-packet, other than for aedes').toEqual(
      expect.not.arrayContaining(['(edgetwin)', 'mqtt']),
    );
  });

  it('loads no cloud package', () => {
    for (const name of ['@kubernetes/client-node', '@peculiar/x509', 'jose', 'openid-client'])
      expect(loaded[name], name).toBeUndefined();
    // mqtt.js requires ws for ws:// URLs in its own connect module; nothing of ours does.
    expect(loaded.ws ?? [], 'who loads ws').toEqual(expect.not.arrayContaining(['(edgetwin)']));
    expect((loaded.ws ?? []).filter((by) => by !== 'mqtt')).toEqual([]);
  });

  it('loads no other protocol stack (serialport comes with modbus-serial, for RTU)', () => {
    const others = Object.keys(loaded).filter((name) => /^(node-opcua|@abandonware\/|usb$)/.test(name));
    expect(others).toEqual([]);
  });
});
