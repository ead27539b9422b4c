import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Device, DeviceModel } from '../device-models/index.js';
import type { Logger } from '../sdk/logger.js';
import { Informer } from './informer.js';

/** Where the DeviceController's decisions go: the CloudHub, which sends them to the edge nodes. */
export interface DeviceSink {
  /** Send (or send again) this device and its model to `node`. */
  upsert(node: string, entry: NodeDevice): void;
  /** The device left `node`: deleted, or moved to another node (or to none). */
  remove(node: string, key: string, resourceVersion: string): void;
}

export interface NodeDevice {
  /** `namespace/name`. */
  key: string;
  /** The Device's resourceVersion. */
  resourceVersion: string;
  device: Device;
  model: DeviceModel;
}

/** Where a device has been sent: its node, the resourceVersion that went there, and its `content`. */
export interface Placement {
  node: string;
  resourceVersion: string;
  content?: string;
}

/**
 * What Kubernetes holds for a device now: no `node` when it is deleted or unassigned; `ready` once its model is
 * known; `content`, what the edge would be sent (see contentOf), to tell a new resourceVersion that only wrote
 * status from one the edge needs.
 */
export interface Wanted {
  node?: string;
  resourceVersion: string;
  ready: boolean;
  content?: string;
}

export type Step = { op: 'upsert'; node: string } | { op: 'remove'; node: string; resourceVersion: string };

/**
 * The pure core: what to send for one device, from where it was sent (`sent`) and what it is now (`wanted`).
 * A device leaves its old node before it reaches a new one; one whose model is unknown is held (not sent);
 * `resend` sends it again even at the same resourceVersion (its model changed). A new resourceVersion with the
 * same content is not sent: on CRDs without the status subresource (KubeEdge's) every status write makes one.
 */
export function placeDevice(
  sent: Placement | undefined,
  wanted: Wanted,
  resend = false,
): { steps: Step[]; sent: Placement | undefined } {
  const steps: Step[] = [];
  let next = sent;
  if (sent && sent.node !== wanted.node) {
    steps.push({ op: 'remove', node: sent.node, resourceVersion: wanted.resourceVersion });
    next = undefined;
  }
  const changed =
    next?.resourceVersion !== wanted.resourceVersion &&
    (wanted.content === undefined || next?.content !== wanted.content);
  if (wanted.node && wanted.ready && (resend || changed)) {
    steps.push({ op: 'upsert', node: wanted.node });
    next = {
      node: wanted.node,
      resourceVersion: wanted.resourceVersion,
      ...(wanted.content !== undefined ? { content: wanted.content } : {}),
    };
  }
  return { steps, sent: next };
}

export const keyOf = (object: KubernetesObject): string =>
  `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;

/** What of a Device reaches the edge (its spec and labels; never status), as one comparable string. */
export const contentOf = (device: Device): string =>
  JSON.stringify([device.spec ?? null, device.metadata?.labels ?? null]);

export interface DeviceControllerContext {
  kubeConfig: KubeConfig;
  sink: DeviceSink;
  log: Logger;
  /** A Device was deleted (`namespace/name`): what is kept for it elsewhere can go (StatusWriter.forget). */
  deleted?(key: string): void;
}

/**
 * Lists and watches Devices and DeviceModels in every namespace (DESIGN.md §7) and tells the sink which node
 * gets which device. It keeps only caches of what Kubernetes holds, plus where each device was sent.
 */
export class DeviceController {
  private readonly sent = new Map<string, Placement>();
  private readonly devices: Informer;
  private readonly models: Informer;

  constructor(private readonly ctx: DeviceControllerContext) {
    const { kubeConfig, log } = ctx;
    this.devices = new Informer(kubeConfig, 'devices', log, (o, deleted) =>
      this.onDevice(o as Device, deleted),
    );
    this.models = new Informer(kubeConfig, 'devicemodels', log, (o, deleted) =>
      this.onModel(o as DeviceModel, deleted),
    );
  }

  /** Resolves once both have been listed; rejects (leaving nothing running) if a first list fails. */
  async start(): Promise<void> {
    await Promise.all([this.models.start(), this.devices.start()]).catch(async (error) => {
      await this.stop();
      throw error;
    });
    this.ctx.log.info({ devices: this.devices.size, models: this.models.size }, 'devices listed');
  }

  /** Safe twice; no watch, request or timer is left when it resolves. */
  async stop(): Promise<void> {
    await Promise.all([this.devices.stop(), this.models.stop()]);
  }

  /** Every device assigned to `node` whose model is known: what the node should have now. */
  devicesOf(node: string): NodeDevice[] {
    const entries: NodeDevice[] = [];
    for (const object of this.devices.list()) {
      const device = object as Device;
      const entry = device.spec?.nodeName === node ? this.entryOf(device) : undefined;
      if (entry) entries.push(entry);
    }
    return entries;
  }

  /** Lists and watches made so far by the Device and DeviceModel informers. */
  get informers(): Record<'devices' | 'models', { lists: number; watches: number }> {
    const counts = (i: Informer) => ({ lists: i.lists, watches: i.watches });
    return { devices: counts(this.devices), models: counts(this.models) };
  }

  device(key: string): Device | undefined {
    const [namespace = '', name = ''] = key.split('/');
    return this.devices.get(name, namespace) as Device | undefined;
  }

  private modelOf(device: Device): DeviceModel | undefined {
    const name = device.spec?.deviceModelRef?.name;
    return name ? (this.models.get(name, device.metadata.namespace) as DeviceModel | undefined) : undefined;
  }

  private entryOf(device: Device): NodeDevice | undefined {
    const model = this.modelOf(device);
    return model && { key: keyOf(device), resourceVersion: rvOf(device), device, model };
  }

  private onDevice(device: Device, deleted: boolean, resend = false): void {
    const key = keyOf(device);
    if (deleted) this.ctx.deleted?.(key);
    const node = deleted ? undefined : device.spec?.nodeName || undefined;
    const entry = deleted ? undefined : this.entryOf(device);
    const placed = placeDevice(
      this.sent.get(key),
      { node, resourceVersion: rvOf(device), ready: entry !== undefined, content: contentOf(device) },
      resend,
    );
    if (placed.sent) this.sent.set(key, placed.sent);
    else this.sent.delete(key);
    if (node && !entry)
      this.ctx.log.info({ key, model: device.spec?.deviceModelRef?.name }, 'model not known yet');
    for (const step of placed.steps) {
      try {
        if (step.op === 'remove') this.ctx.sink.remove(step.node, key, step.resourceVersion);
        else if (entry) this.ctx.sink.upsert(step.node, entry);
      } catch (error) {
        this.ctx.log.error({ key, node: step.node, err: String(error) }, `sink ${step.op} failed`);
      }
    }
  }

  private onModel(model: DeviceModel, deleted: boolean): void {
    const users = this.devices
      .list(model.metadata.namespace)
      .map((o) => o as Device)
      .filter((d) => d.spec?.deviceModelRef?.name === model.metadata.name);
    if (deleted) {
      this.ctx.log.warn(
        { model: keyOf(model), devices: users.length },
        'device model deleted; its devices stay',
      );
      return;
    }
    for (const device of users) this.onDevice(device, false, true);
  }
}

const rvOf = (object: KubernetesObject): string => object.metadata?.resourceVersion ?? '';
