import type { Device, DeviceSpec, PushMethod } from './schema/device.js';
import type { DeviceModel, ModelProperty } from './schema/device-model.js';
import type { ReportStrategy } from './schema/report.js';
import type { SecretSite } from './secret-refs.js';

/** Cycles of 0 (or unset) mean one second, as in KubeEdge. */
export const DEFAULT_CYCLE_MS = 1000;

/**
 * One property of a device, joined with its model property and with everything normalised:
 * the visitor is the model's default visitor overridden key by key by the device's, already validated
 * against the protocol schema (numbers are numbers), and the cycles are in milliseconds.
 */
export interface ResolvedProperty<V = Record<string, unknown>> {
  name: string;
  model: ModelProperty;
  visitor: V;
  collectCycle: number;
  reportCycle: number;
  reportToCloud: boolean;
  pushMethod?: PushMethod;
  desired?: string;
  /**
   * When to report (edgetwin's `visitors.configData.report`, taken out of `visitor`); undefined: every
   * reportCycle, as in KubeEdge.
   */
  report?: ReportStrategy;
}

/** A device ready to run: what a mapper and the twin need, with no further lookups. */
export interface ResolvedDevice<C = Record<string, unknown>, V = Record<string, unknown>> {
  /** `{namespace}/{name}`, the EventBus identity. */
  id: string;
  namespace: string;
  name: string;
  nodeName: string;
  /**
   * The device's protocol name, or else its model's; any name (a protocol with no built-in mapper waits for a
   * mapper of your own on the EventBus), or '' when neither names one.
   */
  protocol: string;
  /**
   * The model's protocolConfigData overridden key by key by the device's configData (KubeEdge 1.22+). Secret
   * references (`${env:NAME}`, `${file:/path}`) are still references here: `resolveSecrets` makes the copy a
   * driver gets.
   */
  config: C;
  /** The secret references in `config`, and where each is written; absent when there are none. */
  secrets?: SecretSite[];
  properties: ResolvedProperty<V>[];
  stateReport: { reportToCloud: boolean; reportCycle: number };
  /** The Device as written (it has a spec: a device without one does not resolve). */
  device: Device & { spec: DeviceSpec };
  model: DeviceModel;
}
