import {
  compareResourceVersions,
  formatProblem,
  fromValue,
  type HubDevice,
  type HubResponse,
  type ProtocolDefinition,
  type ResolvedDevice,
  validateObjects,
} from '../device-models/internal.js';
import type { Logger } from '../sdk/internal.js';
import type { TwinStore } from '../twin/store.js';
import type { MetadataChange } from './metadata.js';

export interface CloudMetadataContext {
  store: TwinStore;
  log: Logger;
  nodeName: string;
  /** The protocols whose configData and visitors are checked (default: the built-in ones'). */
  protocols?: readonly ProtocolDefinition[];
  /** Runs the devices added, changed or removed (the same path as directory metadata). */
  onChange(change: MetadataChange): Promise<void>;
  /** Desired values the cloud changed, as a cloud sync based on the Device's resourceVersion. */
  syncDesired(id: string, desired: Record<string, string>, cloudVersion: number): Promise<void>;
}

interface Held {
  resourceVersion: string;
  device: ResolvedDevice;
}

/**
 * The devices cloudcore assigned to this node. Each object is checked like a YAML file (a bad one is
 * refused with 400 naming the field), run, and stored in SQLite before it is acknowledged, so edgecore
 * restarts with them when the cloud is out of reach. An object no newer than the one held is acknowledged
 * and dropped. Desired values travel in the Device (as in KubeEdge): a property whose desired value differs
 * from the previous Device's is new intent from the cloud and is synced into the twin; an unchanged one is
 * not, so a desired value set at the edge since then stays until the cloud changes that property.
 */
export class CloudMetadata {
  private readonly held = new Map<string, Held>();

  constructor(private readonly ctx: CloudMetadataContext) {}

  has(key: string): boolean {
    return this.held.has(key);
  }

  keys(): string[] {
    return [...this.held.keys()];
  }

  /** Runs the devices stored by an earlier run (edge autonomy: no cloud needed). */
  async start(): Promise<void> {
    const added: ResolvedDevice[] = [];
    for (const object of this.ctx.store.cloudObjects()) {
      const resolved = this.resolve(object.key, object.body as HubDevice);
      if (!resolved.ok) {
        this.ctx.log.error(
          { device: object.key, reason: resolved.reason },
          'stored cloud device is invalid; skipped',
        );
        continue;
      }
      this.held.set(object.key, { resourceVersion: object.resourceVersion, device: resolved.device });
      added.push(resolved.device);
    }
    if (added.length > 0) await this.ctx.onChange({ added, changed: [], removed: [] });
  }

  async upsert(key: string, resourceVersion: string, content: HubDevice): Promise<HubResponse> {
    const before = this.held.get(key);
    if (before && compareResourceVersions(resourceVersion, before.resourceVersion) <= 0)
      return { code: 200, reason: `already at resourceVersion ${before.resourceVersion}` };
    const resolved = this.resolve(key, content);
    if (!resolved.ok) return { code: 400, reason: resolved.reason };
    const { device } = resolved;
    // A Device that changed only in its desired values keeps running: the twin sync below writes them.
    if (!before) await this.ctx.onChange({ added: [device], changed: [], removed: [] });
    else if (!sameButDesired(before.device, device))
      await this.ctx.onChange({ added: [], changed: [device], removed: [] });
    const desired: Record<string, string> = {};
    for (const property of device.properties) {
      if (property.desired === undefined) continue;
      const previous = before?.device.properties.find((p) => p.name === property.name)?.desired;
      if (previous !== property.desired) desired[property.name] = property.desired;
    }
    const version = Number(resourceVersion);
    if (Object.keys(desired).length > 0)
      await this.ctx.syncDesired(key, desired, Number.isSafeInteger(version) ? version : 0);
    this.ctx.store.putCloudObject({ key, resourceVersion, body: content });
    this.held.set(key, { resourceVersion, device });
    return { code: 200 };
  }

  async remove(key: string): Promise<HubResponse> {
    if (!this.held.has(key)) return { code: 200, reason: 'not here' };
    await this.ctx.onChange({ added: [], changed: [], removed: [key] });
    this.ctx.store.removeCloudObject(key);
    this.held.delete(key);
    return { code: 200 };
  }

  /** The cloud's full list for this node: devices held here and not listed left while we were away. */
  async membership(keys: readonly string[]): Promise<HubResponse> {
    const listed = new Set(keys);
    for (const key of this.keys()) if (!listed.has(key)) await this.remove(key);
    return { code: 200 };
  }

  private resolve(
    key: string,
    content: HubDevice,
  ): { ok: true; device: ResolvedDevice } | { ok: false; reason: string } {
    const origin = `cloud:${key}`;
    const result = validateObjects(
      [fromValue(content.model, origin), fromValue(content.device, origin)],
      this.ctx.protocols ? { protocols: this.ctx.protocols } : {},
    );
    if (result.problems.length > 0)
      return { ok: false, reason: result.problems.map(formatProblem).join('; ') };
    const device = result.devices[0];
    if (!device || device.id !== key) return { ok: false, reason: `device: expected Device ${key}` };
    if (device.nodeName !== this.ctx.nodeName)
      return {
        ok: false,
        reason: `device.spec.nodeName: ${device.nodeName || '(empty)'} is not this node (${this.ctx.nodeName})`,
      };
    return { ok: true, device };
  }
}

/** The same device and model, desired values aside. */
function sameButDesired(a: ResolvedDevice, b: ResolvedDevice): boolean {
  const running = (d: ResolvedDevice) =>
    JSON.stringify([d.model.spec, d.device.spec.protocol, d.properties.map(({ desired: _, ...p }) => p)]);
  return running(a) === running(b);
}
