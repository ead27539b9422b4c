import { join } from 'node:path';
import {
  type MsgTwin,
  type MsgTwinMap,
  type ResolvedDevice,
  twinTypeOf,
} from '../../device-models/internal.js';
import { CloudMetadata } from '../../edgecore/cloud-metadata.js';
import { type EdgeConfig, loadEdgeConfig } from '../../edgecore/config.js';
import { EdgeHub } from '../../edgecore/edgehub.js';
import { joinCloud } from '../../edgecore/join.js';
import type { MetadataChange } from '../../edgecore/metadata.js';
import { type Logger, silentLogger } from '../../sdk/internal.js';
import { applyUpdate } from '../../twin/rules.js';
import { TwinStore } from '../../twin/store.js';
import type { DeviceTwins, UpdateSource } from '../../twin/types.js';

export interface FleetEdgeOptions {
  nodeName: string;
  /** Its own directory: certificates, edge.yaml, the SQLite twin store. */
  dataDir: string;
  /** The replica (`host:port`) it joins through, with a token from `edgetwin token` (CloudPki.issueToken). */
  join: string;
  token: string;
  /** Every replica it may be served by (`cloud.servers`). */
  servers: string[];
  /** The twin store's write-behind of reported values, ms (default edgecore's, 5 000). */
  writeBehindMs?: number;
  /** `cloud.keepaliveSeconds` (default 15) and `cloud.reconnectMaxSeconds` (default 30). */
  keepaliveSeconds?: number;
  reconnectMaxSeconds?: number;
  /** Unacknowledged reports are sent again after this long, ms (EdgeHub's default 5 000). */
  resendMs?: number;
  log?: Logger;
}

/**
 * An edge node without edgecore's EventBus, mappers or HTTP API, for fleets of them in one process (the fleet
 * benchmark, the fleet e2e test): the real cloud link (EdgeHub, joined with a real token, with its persistent
 * outbox), the real CloudMetadata (devices from the cloud, checked and stored before they are acknowledged) and
 * the real SQLite TwinStore, and twin updates made as the twin module makes them: KubeEdge's rules
 * (applyUpdate) on an in-memory cache, reported values written behind (`writeBehind`, as the twin module does
 * for reports nobody waits on) with their cloud sync, everything else written at once; the outbox is pumped
 * once committed. The store keeps no history (nothing here reads it).
 */
export class FleetEdge {
  readonly nodeName: string;
  readonly hub: EdgeHub;
  readonly store: TwinStore;
  /** Property values reported so far (report() counts one per property). */
  reported = 0;
  private readonly metadata: CloudMetadata;
  private readonly devices = new Map<string, ResolvedDevice>();
  private readonly cache = new Map<string, DeviceTwins>();

  /** Joins cloudcore (edgetwin join's code path), then builds the edge from the edge.yaml it wrote. */
  static async join(options: FleetEdgeOptions): Promise<FleetEdge> {
    const configFile = join(options.dataDir, 'edge.yaml');
    await joinCloud({
      cloud: options.join,
      servers: options.servers,
      token: options.token,
      nodeName: options.nodeName,
      dataDir: options.dataDir,
      configFile,
    });
    const joined = await loadEdgeConfig(configFile);
    return new FleetEdge(
      {
        ...joined,
        cloud: {
          ...joined.cloud,
          keepaliveSeconds: options.keepaliveSeconds ?? joined.cloud.keepaliveSeconds,
          reconnectMaxSeconds: options.reconnectMaxSeconds ?? joined.cloud.reconnectMaxSeconds,
        },
        twin: { ...joined.twin, writeBehindMs: options.writeBehindMs ?? joined.twin.writeBehindMs },
      },
      options,
    );
  }

  private constructor(config: EdgeConfig, options: FleetEdgeOptions) {
    const log = options.log ?? silentLogger;
    this.nodeName = config.nodeName;
    this.store = TwinStore.open(join(config.dataDir, 'edgetwin.db'), {
      log,
      writeBehindMs: config.twin.writeBehindMs,
      history: { maxPoints: 0 },
    });
    this.metadata = new CloudMetadata({
      store: this.store,
      log,
      nodeName: config.nodeName,
      onChange: (change) => this.apply(change),
      syncDesired: (id, desired, cloudVersion) => this.syncDesired(id, desired, cloudVersion),
    });
    this.hub = new EdgeHub({
      config,
      store: this.store,
      log,
      metadata: this.metadata,
      ...(options.resendMs !== undefined ? { resendMs: options.resendMs } : {}),
    });
  }

  /** Runs the devices stored before, then opens the cloud link. */
  async start(): Promise<void> {
    for (const [id, twins] of this.store.allTwins()) this.cache.set(id, twins);
    await this.metadata.start();
    this.hub.start();
  }

  /** Closes the link, then the store (committing what it holds). Safe twice. */
  async stop(): Promise<void> {
    await this.hub.stop();
    try {
      this.store.close();
    } catch {}
  }

  /** Whether the cloud has sent this device (`{namespace}/{name}`) here. */
  holds(id: string): boolean {
    return this.devices.has(id);
  }

  /** The devices (`{namespace}/{name}`) the cloud has sent here. */
  get deviceIds(): string[] {
    return [...this.devices.keys()];
  }

  /** The reported value of a property as this edge holds it. */
  reportedValue(id: string, property: string): string | undefined {
    return this.cache.get(id)?.[property]?.actual?.value ?? undefined;
  }

  /**
   * Reports values read from a device (property → value), as a mapper's twin/update does: applied at once,
   * written behind with its cloud sync. False when the device is not here or the update is refused.
   */
  report(id: string, values: Record<string, string>): boolean {
    const update: MsgTwinMap = {};
    for (const [name, value] of Object.entries(values)) update[name] = { actual: { value } };
    const changed = this.applyToCache(id, update, 'edge');
    if (!changed) return false;
    this.reported += Object.keys(values).length;
    if (Object.keys(changed.sync).length > 0)
      void this.store.writeBehind(id, changed.twins, changed.sync).then(
        () => this.hub.notifyOutbox(),
        () => {}, // the store logs it
      );
    return true;
  }

  /** A device's state, as a mapper's state/update: stored, then sent to the cloud (online stamps lastOnline). */
  async setState(id: string, state: 'online' | 'offline' | 'unhealthy' | 'unknown'): Promise<void> {
    const lastOnline =
      state === 'online' ? new Date().toISOString() : (this.store.device(id)?.lastOnline ?? '');
    await this.store.setState(id, state, lastOnline);
    this.hub.notifyState(id, state, lastOnline || undefined);
  }

  /** The cloud's devices added, changed or removed (CloudMetadata's onChange). */
  private async apply(change: MetadataChange): Promise<void> {
    for (const id of change.removed) {
      this.devices.delete(id);
      this.cache.delete(id);
      this.store.removeDevice(id);
    }
    for (const device of [...change.added, ...change.changed]) {
      this.devices.set(device.id, device);
      this.store.upsertDevice({
        id: device.id,
        namespace: device.namespace,
        name: device.name,
        description: '',
      });
      // A twin per property, typed from the model, desired from the spec (the twin module's addDevice).
      const twins = this.cache.get(device.id) ?? {};
      const initial: MsgTwinMap = {};
      for (const property of device.properties)
        if (!twins[property.name])
          initial[property.name] = {
            optional: false,
            metadata: twinTypeOf(property.model.type),
            ...(property.desired !== undefined ? { expected: { value: property.desired } } : {}),
          };
      await this.write(device.id, initial, 'edge');
    }
  }

  /** Desired values the cloud changed: a cloud sync based on the twin's own edge version. */
  private async syncDesired(
    id: string,
    desired: Record<string, string>,
    cloudVersion: number,
  ): Promise<void> {
    const twins = this.cache.get(id) ?? {};
    const update: MsgTwinMap = {};
    for (const [name, value] of Object.entries(desired))
      update[name] = {
        expected: { value },
        expected_version: { cloud: cloudVersion, edge: twins[name]?.expected_version?.edge ?? 0 },
      };
    await this.write(id, update, 'cloud');
  }

  /** An update committed before it resolves (desired values, new twins), its sync pumped to the cloud. */
  private async write(id: string, update: MsgTwinMap, source: UpdateSource): Promise<void> {
    if (Object.keys(update).length === 0) return;
    const changed = this.applyToCache(id, update, source);
    if (!changed) throw new Error(`${source} update of ${id} refused`);
    // Beyond KubeEdge, a cloud sync the edge took goes back too (as the twin module sends it).
    const sync = source === 'cloud' ? { ...changed.twins, ...changed.sync } : changed.sync;
    await this.store.write(id, changed.twins, sync);
    if (Object.keys(sync).length > 0) this.hub.notifyOutbox();
  }

  /** KubeEdge's rules on the cache; the twins that changed and the sync to send, or undefined when refused. */
  private applyToCache(
    id: string,
    update: MsgTwinMap,
    source: UpdateSource,
  ): { twins: Record<string, MsgTwin | null>; sync: Record<string, MsgTwin | null> } | undefined {
    if (!this.devices.has(id)) return undefined;
    const previous = this.cache.get(id) ?? {};
    const applied = applyUpdate(previous, update, { source, now: Date.now() });
    if (!applied.ok) return undefined;
    this.cache.set(id, applied.twins);
    const twins = Object.fromEntries(
      Object.keys(applied.result).map((name) => [name, applied.twins[name] ?? null]),
    );
    return { twins, sync: applied.sync };
  }
}
