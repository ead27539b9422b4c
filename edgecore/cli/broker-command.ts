import { mkdir } from 'node:fs/promises';
import { loadDevices } from '../../device-models/index.js';
import { builtInProtocols } from '../../mappers/builtin.js';
import { type BrokerAccount, loadBrokerCredentials } from '../broker-credentials.js';
import { loadEdgeConfig } from '../config.js';
import type { Output } from './output.js';

export interface BrokerCredentialsOptions {
  config?: string;
  dataDir?: string;
  /** Protocols of mappers of your own, besides the built-in ones and those of the devices. */
  protocol?: string[];
  json?: boolean;
}

/**
 * `edgetwin broker credentials`: the usernames and passwords external mappers and apps give the embedded
 * broker, from the edge's data directory (made there when the edge has not run yet).
 */
export async function runBrokerCredentials(options: BrokerCredentialsOptions, out: Output): Promise<number> {
  const config = await loadEdgeConfig(options.config);
  const dataDir = options.dataDir ?? config.dataDir;
  const { internal } = config.eventBus;
  const url = `mqtt://${internal.host}:${internal.port}`;
  if (config.eventBus.mode === 'external') {
    out.stderr('edgetwin: eventBus.mode is external: the EventBus is your broker, with its own accounts');
    return 1;
  }
  if (internal.auth === 'none') {
    out.stdout(`${url} takes anonymous clients (eventBus.internal.auth: none): no credentials are needed`);
    return 0;
  }
  await mkdir(dataDir, { recursive: true });
  const credentials = await loadBrokerCredentials(dataDir, internal);
  const protocols = new Set([...builtInProtocols.map((p) => p.protocol), ...(options.protocol ?? [])]);
  // The protocols of the devices the edge runs from its directories (the cloud's are not known here).
  const { devices } = await loadDevices(config.devices.dirs).catch(() => ({ devices: [] }));
  for (const device of devices) protocols.add(device.protocol);
  const mappers = [...protocols].map((p) => credentials.mapper(p));
  const apps = credentials.apps();
  if (options.json) {
    const entry = (a: BrokerAccount) => ({ username: a.username, password: a.password, role: a.role });
    out.stdout(
      JSON.stringify(
        { url, file: credentials.file, apps: apps.map(entry), mappers: mappers.map(entry) },
        null,
        2,
      ),
    );
    return 0;
  }
  const rows = [
    ...apps.map((a) => [`app (${a.role.kind})`, a.username, a.password]),
    ...mappers.map((a) => ['mapper', a.username, a.password]),
  ];
  const width = (i: number) => Math.max(...rows.map((r) => r[i]!.length));
  out.stdout(`EventBus accounts of ${url} (secret: ${credentials.file})`);
  for (const row of rows) out.stdout(`  ${row[0]!.padEnd(width(0))}  ${row[1]!.padEnd(width(1))}  ${row[2]}`);
  const modbus = credentials.mapper('modbus');
  out.stdout(
    `e.g. edgetwin mapper modbus --broker ${url} --username ${modbus.username} --password ${modbus.password} --devices …`,
  );
  return 0;
}
