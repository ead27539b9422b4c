import {
  loadDevices,
  type ResolvedDevice,
  StateUpdate,
  samplesDir,
  TwinUpdate,
} from '../device-models/internal.js';
import { builtInProtocols } from '../mappers/builtin.js';
import { type RunningSimulator, startSimulator } from '../mappers/simulators.js';
import { EventBus, type Logger, type ProtocolRegistration, topics } from '../sdk/internal.js';
import { edgeConfig } from './config.js';
import { EdgeCore } from './edgecore.js';

export interface DemoOptions {
  dataDir?: string;
  brokerPort?: number;
  httpPort?: number;
  /** Open the embedded broker to anonymous clients (`eventBus.internal.auth: none`). */
  anonymous?: boolean;
  log: Logger;
  print: (line: string) => void;
}

export interface Demo {
  edge: EdgeCore;
  stop(): Promise<void>;
}

/**
 * The dashboard's address for a person: the API's URL with a trailing slash, and a browsable host where the
 * API listens on every address (0.0.0.0 or ::).
 */
export function dashboardUrl(httpUrl: string): string {
  const url = new URL(httpUrl);
  if (url.hostname === '0.0.0.0') url.hostname = '127.0.0.1';
  else if (url.hostname === '[::]') url.hostname = '[::1]';
  url.pathname = '/';
  return url.href;
}

/** Starts a simulator for each sample device whose protocol has one, and returns where each is reached. */
async function startSimulators(devices: ResolvedDevice[], log: Logger) {
  const simulators: RunningSimulator[] = [];
  const reached = new Map<string, Record<string, unknown>>();
  for (const device of devices) {
    try {
      const simulator = await startSimulator(device, {
        port: 0,
        log: log.child({ device: device.id }),
      });
      if (!simulator) continue;
      reached.set(device.id, simulator.reached);
      simulators.push(simulator);
    } catch (error) {
      log.warn({ device: device.id, err: (error as Error).message }, 'simulator did not start');
    }
  }
  return { simulators, reached };
}

/**
 * `npm start`: edgecore with the embedded broker, SQLite under ./data, every sample device with its simulator
 * in-process, the dashboard's address, and a compact live line per device. Devices whose protocol has no mapper yet are listed as waiting.
 */
export async function startDemo(options: DemoOptions): Promise<Demo> {
  const dir = samplesDir();
  const { devices } = await loadDevices([dir]);
  const { simulators, reached } = await startSimulators(devices, options.log);
  // BLE has no radio here: its devices are served by a simulated adapter that noble runs on, in-process.
  const { createBleMapper, createBleSimulator, SimulatedRadio } = await import('../mappers/ble/index.js');
  const radio = new SimulatedRadio();
  const bleSimulator = createBleSimulator(
    devices.filter((d) => d.protocol === 'ble'),
    { radio },
  );
  await bleSimulator.start();
  const bleMapper = createBleMapper(() => radio.createBindings());
  const protocols = builtInProtocols.map((p) =>
    p.protocol === 'ble' ? ({ ...p, loadDriver: async () => bleMapper } as ProtocolRegistration) : p,
  );
  const config = edgeConfig({
    dataDir: options.dataDir ?? './data',
    eventBus: {
      mode: 'internal',
      internal: { port: options.brokerPort ?? 1884, auth: options.anonymous ? 'none' : 'credentials' },
    },
    http: { port: options.httpPort ?? 10350 },
    devices: { dirs: [dir], watch: false },
  });
  const edge = new EdgeCore({
    config,
    log: options.log,
    protocols,
    ownsProcess: true,
    adjustDevice: (d) => (reached.has(d.id) ? { ...d, config: { ...d.config, ...reached.get(d.id) } } : d),
  });
  try {
    await edge.start();
  } catch (error) {
    await Promise.all([...simulators.map((s) => s.stop()), bleSimulator.stop()]);
    throw error;
  }
  options.print(`edgetwin demo — broker ${edge.brokerUrl}  http ${edge.httpUrl}  data ${config.dataDir}`);
  options.print(`  dashboard: ${dashboardUrl(edge.httpUrl)} (open it in a browser)`);
  const app = edge.brokerCredentials?.apps()[0];
  if (app)
    options.print(
      `  MQTT clients log in: username ${app.username}, password ${app.password} (${app.role.kind}); ` +
        `all accounts: npx edgetwin broker credentials --data-dir ${config.dataDir}`,
    );
  else options.print('  MQTT clients connect anonymously (--anonymous)');
  for (const [id, protocol] of edge.mapperHost?.waiting ?? [])
    options.print(`  ${id}: waiting for the ${protocol} mapper (not simulated)`);
  const live = await liveLines(edge, options.print);
  return {
    edge,
    async stop() {
      await live.close();
      await edge.stop();
      await Promise.all([...simulators.map((s) => s.stop()), bleSimulator.stop()]);
    },
  };
}

/** One compact line per device, at most once a second, built from what the mappers publish. */
async function liveLines(edge: EdgeCore, print: (line: string) => void) {
  const { brokerUrl: url, httpUrl } = edge;
  // In-process, as edgecore's own modules: no socket, no credentials.
  const transport = edge.localTransport();
  const bus = await EventBus.connect(url, {
    clientId: `edgetwin-demo-${process.pid}`,
    ...(transport ? { transport } : {}),
  });
  const values = new Map<string, Map<string, string>>();
  const states = new Map<string, string>();
  const lastPrint = new Map<string, number>();
  // States reported before this client subscribed: ask the HTTP API once.
  const known = (await (await fetch(`${httpUrl}/api/v1/devices`)).json()) as { id: string; state: string }[];
  for (const device of known) states.set(device.id, device.state);
  const show = (id: string) => {
    const now = Date.now();
    if (now - (lastPrint.get(id) ?? 0) < 1000) return;
    lastPrint.set(id, now);
    const props = [...(values.get(id) ?? [])].map(([k, v]) => `${k}=${v}`).join(' ');
    print(`  ${id.padEnd(28)} ${(states.get(id) ?? '…').padEnd(9)} ${props}`);
  };
  await bus.subscribe(topics.twinUpdate(topics.ANY_DEVICE), TwinUpdate, (topic, payload) => {
    const id = topics.parseDeviceTopic(topic)!.id;
    const map = values.get(id) ?? new Map<string, string>();
    for (const [name, twin] of Object.entries(payload.twin))
      if (twin?.actual?.value != null) map.set(name, twin.actual.value);
    values.set(id, map);
    show(id);
  });
  await bus.subscribe(topics.stateUpdate(topics.ANY_DEVICE), StateUpdate, (topic, payload) => {
    const id = topics.parseDeviceTopic(topic)!.id;
    states.set(id, payload.state);
    lastPrint.delete(id);
    show(id);
  });
  return bus;
}
