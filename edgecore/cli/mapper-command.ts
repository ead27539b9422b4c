import { loadDevices, resolveSecrets, SecretUnresolved } from '../../device-models/internal.js';
import { registrationLoader } from '../../mappers/index.js';
import { EventBus, MapperHost } from '../../sdk/internal.js';
import { createCliLogger } from './log.js';
import type { Output } from './output.js';
import { protocolsWith } from './protocols.js';
import { untilSignal } from './signals.js';

export interface MapperOptions {
  broker: string;
  devices: string[];
  username?: string;
  password?: string;
  applyDesired?: boolean;
  /** Protocols from other packages (npm names or paths). */
  plugin?: string[];
}

/** `edgetwin mapper <protocol>`: runs one protocol's mapper as its own process on the EventBus. */
export async function runMapper(protocol: string, options: MapperOptions, out: Output): Promise<number> {
  const log = createCliLogger().child({ module: `mapper:${protocol}` });
  const protocols = await protocolsWith(options.plugin, 'mapper', out);
  if (!protocols) return 2;
  if (!protocols.some((p) => p.protocol === protocol)) {
    out.stderr(
      `edgetwin: no mapper for protocol "${protocol}" (available: ${protocols.map((p) => p.protocol).join(', ')}; ` +
        'a protocol from another package: --plugin <name>)',
    );
    return 2;
  }
  const { devices } = await loadDevices(options.devices, { protocols });
  let mine: typeof devices;
  try {
    mine = devices.filter((d) => d.protocol === protocol).map((d) => resolveSecrets(d));
  } catch (error) {
    if (!(error instanceof SecretUnresolved)) throw error;
    out.stderr(`edgetwin mapper: ${error.message}`);
    return 1;
  }
  if (mine.length === 0)
    out.stderr(`edgetwin: no ${protocol} device in ${options.devices.join(', ')}; waiting anyway`);
  const bus = await EventBus.connect(options.broker, {
    clientId: `edgetwin-mapper-${protocol}-${process.pid}`,
    ...(options.username ? { username: options.username } : {}),
    ...(options.password ? { password: options.password } : {}),
    log,
  });
  const host = new MapperHost({
    bus,
    devices: mine,
    loadMapper: registrationLoader(protocols),
    log,
    runtime: { applySpecDesired: options.applyDesired ?? false },
  });
  await host.start();
  out.stderr(
    `mapper ${protocol}: ${mine.length} device(s) on ${options.broker}: ${mine.map((d) => d.id).join(', ')}`,
  );
  await untilSignal();
  await host.stop();
  await bus.close();
  return 0;
}
