import type { KubeConfig } from '@kubernetes/client-node';
import { compareText } from '../device-models/compare-text.js';
import type { Device, DeviceModel, DeviceStatus } from '../device-models/internal.js';
import type { Logger } from '../sdk/logger.js';
import type { DeviceRecord } from './dashboard-api-view.js';
import { keyOf } from './device-controller.js';
import { Informer } from './informer.js';

export interface DashboardSourceContext {
  kubeConfig: KubeConfig;
  log: Logger;
  /**
   * Where the twins and state are: in DeviceStatus objects (watched too), or in Device.status — the StatusWriter's
   * discovered mode, so the dashboard reads what cloudcore writes.
   */
  statusKind: 'DeviceStatus' | 'Device';
  /** A device's record changed (its Device, model or status), or it was deleted (record() is then undefined). */
  changed(key: string): void;
}

/**
 * What the dashboard shows, kept by list/watch (the same Informer the DeviceController uses: resourceVersion
 * kept, relist on 410 Gone, restart with backoff): Devices, DeviceModels and, where the twins live there,
 * DeviceStatuses, in every namespace. It holds only caches of what Kubernetes has.
 */
export class DashboardSource {
  private readonly devices: Informer;
  private readonly models: Informer;
  private readonly statuses?: Informer;

  constructor(private readonly ctx: DashboardSourceContext) {
    const { kubeConfig, log } = ctx;
    this.devices = new Informer(kubeConfig, 'devices', log, (o) => ctx.changed(keyOf(o)));
    this.models = new Informer(kubeConfig, 'devicemodels', log, (o) => this.onModel(o as DeviceModel));
    if (ctx.statusKind === 'DeviceStatus')
      this.statuses = new Informer(kubeConfig, 'devicestatuses', log, (o) => ctx.changed(keyOf(o)));
  }

  /** Resolves once everything has been listed; rejects (leaving nothing running) if a first list fails. */
  async start(): Promise<void> {
    const informers = [this.models, this.devices, ...(this.statuses ? [this.statuses] : [])];
    await Promise.all(informers.map((i) => i.start())).catch(async (error) => {
      await this.stop();
      throw error;
    });
  }

  /** Safe twice; no watch, request or timer is left when it resolves. */
  async stop(): Promise<void> {
    await Promise.all([this.devices.stop(), this.models.stop(), this.statuses?.stop()]);
  }

  /** Devices known now. */
  get size(): number {
    return this.devices.size;
  }

  /** Every device, sorted by id. */
  records(): DeviceRecord[] {
    return this.devices
      .list()
      .map((o) => this.recordOf(o as Device))
      .sort((a, b) => compareText(keyOf(a.device), keyOf(b.device)));
  }

  record(key: string): DeviceRecord | undefined {
    const [namespace = '', name = ''] = key.split('/');
    const device = this.devices.get(name, namespace) as Device | undefined;
    return device && this.recordOf(device);
  }

  /** A DeviceModel as last listed or watched. */
  model(namespace: string, name: string): DeviceModel | undefined {
    return this.models.get(name, namespace) as DeviceModel | undefined;
  }

  private recordOf(device: Device): DeviceRecord {
    const namespace = device.metadata?.namespace;
    const modelName = device.spec?.deviceModelRef?.name;
    const model = modelName ? (this.models.get(modelName, namespace) as DeviceModel | undefined) : undefined;
    const own = this.statuses?.get(device.metadata.name, namespace) as DeviceStatus | undefined;
    // Each field from the DeviceStatus where it has it, else from Device.status (where KubeEdge's CRDs and older
    // KubeEdge keep them, and where cloudcore may also write the state).
    const field = <K extends 'twins' | 'state' | 'lastOnlineTime'>(name: K) =>
      own?.status?.[name] ?? device.status?.[name];
    const status = { twins: field('twins'), state: field('state'), lastOnlineTime: field('lastOnlineTime') };
    return { device, ...(model ? { model } : {}), status };
  }

  /** A model's change reaches the view of every device of it (types and bounds come from the model). */
  private onModel(model: DeviceModel): void {
    for (const object of this.devices.list(model.metadata?.namespace)) {
      const device = object as Device;
      if (device.spec?.deviceModelRef?.name === model.metadata?.name) this.ctx.changed(keyOf(device));
    }
  }
}
