import { join } from 'node:path';
import { type ResolvedDevice, resolveSecrets, SecretUnresolved } from '../device-models/internal.js';
import { builtInProtocols } from '../mappers/builtin.js';
import { registrationLoader } from '../mappers/index.js';
import { loadPlugins } from '../mappers/plugins.js';
import {
  type BusTransport,
  type EmbeddedBroker,
  EventBus,
  eventBusAcl,
  type Logger,
  MapperHost,
  type MapperLoader,
  openEventBusAcl,
  type ProtocolRegistration,
  silentLogger,
  startEmbeddedBroker,
  topics,
} from '../sdk/internal.js';
import { snapshot } from '../twin/rules.js';
import { TwinStore } from '../twin/store.js';
import { type BrokerCredentials, loadBrokerCredentials } from './broker-credentials.js';
import { BusGroup } from './bus-group.js';
import type { CloudMetadata } from './cloud-metadata.js';
import type { EdgeConfig } from './config.js';
import type { EdgeContext } from './context.js';
import type { EdgeHub } from './edgehub.js';
import { HeapSaver } from './heap-saver.js';
import { type HttpApi, startHttpApi } from './http-api.js';
import { memberEntry, membershipUpdates } from './membership.js';
import { DirectoryMetadata, type MetadataChange } from './metadata.js';
import { EdgeMetrics } from './metrics.js';
import { ensurePrivateDir } from './private-dir.js';
import { TwinModule } from './twin-module.js';

export interface EdgeCoreOptions {
  config: EdgeConfig;
  log?: Logger;
  /**
   * The protocols this edge knows (validation and mappers); default the built-in ones. The plug-ins of
   * `mappers.plugins` are added to them.
   */
  protocols?: readonly ProtocolRegistration[];
  /** Where `mappers.plugins` are resolved from: the config file's directory (default: the current one). */
  configDir?: string;
  /** Overrides how a protocol's mapper is found (default: from the protocols' registrations). */
  loadMapper?: MapperLoader;
  /** Adjusts each device before it runs (the demo points devices at their simulators). */
  adjustDevice?: (device: ResolvedDevice) => ResolvedDevice;
  /** Cloud link tuning (tests shorten it): how long an unacknowledged report waits before it is resent, ms. */
  cloudLink?: { resendMs?: number };
  /**
   * The process is this edge's own (the `edgetwin edge` and `demo` commands): V8's memory saver follows `memory`.
   * Off by default, as the V8 flag is process-wide.
   */
  ownsProcess?: boolean;
}

/**
 * The edge process: EventBus (embedded aedes, external broker, or both), the twin module on KubeEdge's
 * topics, the twin store in SQLite, standalone metadata from YAML, the mappers the devices need (in-process,
 * through the EventBus exactly as external mappers), and the HTTP API.
 */
export class EdgeCore {
  brokerUrl = '';
  httpUrl = '';
  readonly metrics = new EdgeMetrics();
  private broker?: EmbeddedBroker;
  private credentials?: BrokerCredentials;
  private bus?: EventBus;
  private externalBus?: EventBus;
  private group?: BusGroup;
  private store?: TwinStore;
  private twin?: TwinModule;
  private host?: MapperHost;
  private metadata?: DirectoryMetadata;
  private cloudMetadata?: CloudMetadata;
  private hub?: EdgeHub;
  private http?: HttpApi;
  private heapSaver?: HeapSaver;
  private readonly devices = new Map<string, ResolvedDevice>();
  private known: readonly ProtocolRegistration[] = [];
  private readonly log: Logger;
  private stopped = false;

  constructor(private readonly options: EdgeCoreOptions) {
    this.log = (options.log ?? silentLogger).child({ module: 'edgecore' });
  }

  /**
   * The accounts of the embedded broker (`eventBus.internal.auth: credentials`); undefined with an external
   * broker only, or with `auth: none`.
   */
  get brokerCredentials(): BrokerCredentials | undefined {
    return this.credentials;
  }

  /** A way onto the embedded broker from this process, with no socket and no credentials (LocalTransport). */
  localTransport(): BusTransport | undefined {
    return this.broker?.localTransport();
  }

  get mapperHost(): MapperHost | undefined {
    return this.host;
  }

  /** The protocols this edge validates and runs: the built-in ones (or those given) and the plug-ins that loaded. */
  get protocols(): readonly ProtocolRegistration[] {
    return this.known;
  }

  get twinModule(): TwinModule | undefined {
    return this.twin;
  }

  /** The link to cloudcore, when `cloud.enabled`. */
  get edgeHub(): EdgeHub | undefined {
    return this.hub;
  }

  async start(): Promise<void> {
    const { config } = this.options;
    const log = this.options.log ?? silentLogger;
    try {
      await ensurePrivateDir(config.dataDir, this.log);
      this.known = await this.loadProtocols();
      this.store = TwinStore.open(join(config.dataDir, 'edgetwin.db'), {
        log: log.child({ module: 'edgecore:store' }),
        writeBehindMs: config.twin.writeBehindMs,
        cacheBytes: config.twin.cacheMB * 1024 * 1024,
        history: { maxPoints: config.history.maxPoints, maxAgeMs: config.history.maxAgeSeconds * 1000 },
      });
      this.brokerUrl = await this.startBroker();
      // With the embedded broker, edgecore's own bus (twin module, in-process mappers) needs no loopback socket.
      const broker = this.broker;
      this.bus = await EventBus.connect(this.brokerUrl, {
        clientId: `edgecore-${config.nodeName}-${process.pid}`,
        ...this.busCredentials(),
        ...(broker ? { transport: broker.localTransport() } : {}),
        onRefused: (filter, code) => this.metrics.busRefused.inc({ filter, code: String(code) }),
        log: log.child({ module: 'edgecore:eventbus' }),
      });
      if (config.eventBus.mode === 'both')
        this.externalBus = await EventBus.connect(config.eventBus.external.url, {
          clientId: `edgecore-${config.nodeName}-external-${process.pid}`,
          ...(config.eventBus.external.username ? { username: config.eventBus.external.username } : {}),
          ...(config.eventBus.external.password ? { password: config.eventBus.external.password } : {}),
          onRefused: (filter, code) => this.metrics.busRefused.inc({ filter, code: String(code) }),
          log: log.child({ module: 'edgecore:eventbus-external' }),
        });
      this.group = new BusGroup(this.externalBus ? [this.bus, this.externalBus] : [this.bus]);
      const ctx: EdgeContext = {
        config,
        bus: this.group,
        store: this.store,
        log: log.child({ module: 'edgecore:twin' }),
        metrics: this.metrics,
        devices: this.devices,
      };
      this.twin = new TwinModule(ctx);
      await this.twin.start();
      this.host = new MapperHost({
        bus: this.bus,
        devices: [],
        loadMapper: this.options.loadMapper ?? registrationLoader(this.known),
        log: log.child({ module: 'edgecore:mappers' }),
      });
      this.host.on('runtime', (runtime) => {
        runtime.on('readFailed', () => this.metrics.mapperErrors.inc({ device: runtime.id }));
        runtime.on('writeFailed', () => this.metrics.mapperErrors.inc({ device: runtime.id }));
      });
      if (config.cloud.enabled) await this.startCloudLink(ctx, log);
      this.metadata = new DirectoryMetadata(
        config.devices.dirs,
        config.nodeName,
        log.child({ module: 'edgecore:metadata' }),
        (c) => this.apply(c),
        { protocols: this.known },
      );
      await this.metadata.start(config.devices.watch);
      this.http = await startHttpApi({ ...ctx, log: log.child({ module: 'edgecore:http' }) }, this.twin);
      this.httpUrl = this.http.url;
      // Once the devices run: start-up (their models compiled, the twins loaded) at full speed, whatever the heap.
      if (this.options.ownsProcess) this.startHeapSaver(log);
      this.log.info(
        { broker: this.brokerUrl, http: this.httpUrl, devices: this.devices.size },
        'edgecore started',
      );
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  private startHeapSaver(log: Logger): void {
    const { memory } = this.options.config;
    this.heapSaver = new HeapSaver({
      mode: memory.saver,
      limitBytes: memory.saverHeapMB * 2 ** 20,
      onSwitch: (on) => this.metrics.heapSaver.set(on ? 1 : 0),
      log: log.child({ module: 'edgecore:memory' }),
    });
    this.heapSaver.start();
  }

  /**
   * The protocols given (default the built-in ones) and the plug-ins of `mappers.plugins`, whose light entries
   * (registration with schemas) are imported now, so that their devices are validated; their drivers are imported
   * when a device uses them. A plug-in that cannot be used is logged and left out: its devices wait for a
   * mapper, as any protocol of your own does, and the rest of the edge runs.
   */
  private async loadProtocols(): Promise<readonly ProtocolRegistration[]> {
    const base = this.options.protocols ?? builtInProtocols;
    const specifiers = this.options.config.mappers.plugins ?? [];
    if (specifiers.length === 0) return base;
    const { protocols, errors } = await loadPlugins(specifiers, {
      taken: base,
      ...(this.options.configDir ? { from: this.options.configDir } : {}),
    });
    for (const error of errors)
      this.log.error({ plugin: error.plugin, err: error.message }, 'plug-in not loaded');
    for (const p of protocols) this.log.info({ protocol: p.protocol }, 'plug-in protocol loaded');
    return [...base, ...protocols];
  }

  /**
   * Devices the cloud sent before run at once from SQLite (edge autonomy); then the link is opened. The cloud
   * side (ws and the hub protocol) is imported only here: an edge without a cloud never loads it.
   */
  private async startCloudLink(ctx: EdgeContext, log: Logger): Promise<void> {
    const { config } = this.options;
    const [{ CloudMetadata }, { EdgeHub }] = await Promise.all([
      import('./cloud-metadata.js'),
      import('./edgehub.js'),
    ]);
    this.cloudMetadata = new CloudMetadata({
      store: ctx.store,
      log: log.child({ module: 'edgecore:cloud-metadata' }),
      nodeName: config.nodeName,
      protocols: this.known,
      onChange: (change) => this.apply(change),
      syncDesired: (id, desired, cloudVersion) => this.syncDesired(id, desired, cloudVersion),
    });
    this.hub = new EdgeHub({
      config,
      store: ctx.store,
      log: log.child({ module: 'edgecore:edgehub' }),
      metadata: this.cloudMetadata,
      ...this.options.cloudLink,
    });
    ctx.cloud = this.hub;
    this.metrics.cloudConnected.set(0);
    this.hub.on('connected', () => this.metrics.cloudConnected.set(1));
    this.hub.on('disconnected', () => this.metrics.cloudConnected.set(0));
    await this.cloudMetadata.start();
    this.hub.start();
  }

  /** A desired value changed in the cloud: a cloud sync based on this twin's own edge version. */
  private async syncDesired(
    id: string,
    desired: Record<string, string>,
    cloudVersion: number,
  ): Promise<void> {
    const twins = this.twin!.twins(id) ?? {};
    const update = Object.fromEntries(
      Object.entries(desired).map(([name, value]) => [
        name,
        {
          expected: { value },
          expected_version: { cloud: cloudVersion, edge: twins[name]?.expected_version?.edge ?? 0 },
        },
      ]),
    );
    const outcome = await this.twin!.update(id, update, 'cloud');
    if (!outcome.ok) throw new Error(`desired values of ${id} refused: ${outcome.reason}`);
    if (outcome.rejected.length > 0)
      this.log.warn({ device: id, properties: outcome.rejected }, 'the edge holds newer desired values');
  }

  private busCredentials() {
    const { eventBus } = this.options.config;
    const source = eventBus.mode === 'external' ? eventBus.external : eventBus.internal;
    return {
      ...(source.username ? { username: source.username } : {}),
      ...(source.password ? { password: source.password } : {}),
    };
  }

  private async startBroker(): Promise<string> {
    const { eventBus } = this.options.config;
    if (eventBus.mode === 'external') return eventBus.external.url;
    const { internal } = eventBus;
    const log = (this.options.log ?? silentLogger).child({ module: 'edgecore:broker' });
    if (internal.auth === 'credentials')
      this.credentials = await loadBrokerCredentials(this.options.config.dataDir, internal, log);
    const credentials = this.credentials;
    this.broker = await startEmbeddedBroker({
      host: internal.host,
      port: internal.port,
      maxPacketSize: internal.maxPacketSize,
      // A mapper's own devices: those of its protocol that this edge runs now.
      access: credentials
        ? eventBusAcl({
            account: (username) => credentials.account(username),
            protocolOf: (id) => this.devices.get(id)?.protocol,
          })
        : openEventBusAcl(),
      log,
    });
    return this.broker.url;
  }

  private async apply(change: MetadataChange): Promise<void> {
    const adjust = this.options.adjustDevice ?? ((d: ResolvedDevice) => d);
    for (const device of [...change.added, ...change.changed].map(adjust)) {
      this.devices.set(device.id, device);
      await this.twin!.addDevice(device);
      if (this.options.config.mappers.inProcess) await this.runMapper(device);
    }
    for (const id of change.removed) {
      await this.host!.remove(id);
      this.devices.delete(id);
      this.twin!.removeDevice(id);
    }
    const node = this.options.config.nodeName;
    const bus = new BusGroup(this.externalBus ? [this.bus!, this.externalBus] : [this.bus!]);
    const added = change.added.map((device) =>
      memberEntry(device, snapshot(this.twin!.twins(device.id) ?? {})),
    );
    const removed = change.removed.map((id) => ({ id, name: id.split('/')[1] ?? id }));
    for (const lists of membershipUpdates(added, removed))
      await bus.publish(topics.membershipUpdated(node), {
        event_id: crypto.randomUUID(),
        timestamp: Date.now(),
        ...lists,
      });
  }

  /**
   * Hands the device to its mapper with its secret references resolved (that copy goes nowhere else); a device
   * whose secret cannot be read does not run, and says which field and where.
   */
  private async runMapper(device: ResolvedDevice): Promise<void> {
    let running: ResolvedDevice;
    try {
      running = resolveSecrets(device);
    } catch (error) {
      if (!(error instanceof SecretUnresolved)) throw error;
      await this.host!.remove(device.id);
      this.log.error(
        { device: device.id, field: error.site.field, at: error.site.at, err: error.message },
        'device not started: a secret it references cannot be read',
      );
      return;
    }
    await this.host!.add(running);
  }

  /** Stops everything in reverse order; safe to call twice. Pending twin writes are flushed first. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.heapSaver?.stop();
    await this.metadata?.stop();
    await this.hub?.stop();
    await this.http?.close();
    await this.host?.stop();
    await this.twin?.stop();
    await this.externalBus?.close();
    await this.bus?.close();
    this.store?.close();
    await this.broker?.stop();
    this.log.info('edgecore stopped');
  }
}
