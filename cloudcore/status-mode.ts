import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { EdgetwinError } from '../device-models/errors.js';
import { API_GROUP } from '../device-models/index.js';

const VERSION = 'v1beta1';

/** Where twins and state are written, and how (DESIGN.md §7). */
export interface StatusMode {
  /** The kind whose `status` holds the twins: DeviceStatus (same name as its Device), or the Device itself. */
  kind: 'DeviceStatus' | 'Device';
  plural: 'devicestatuses' | 'devices';
  /**
   * true: server-side applies of `…/{name}/status`, one field manager per concern (the CRD has the status
   * subresource, as edgetwin's do).
   * false: a JSON merge patch of the object itself, as KubeEdge's devicecontroller does (its CRDs have no
   * subresources, and a patch of `…/status` answers 404 there), with a resourceVersion precondition.
   */
  subresource: boolean;
  /**
   * Whether state and conditions are also applied to `Device.status` (for `kubectl get devices`): when they go to
   * DeviceStatus and the Device CRD has the status subresource (so the copy never touches the Device's spec or
   * generation).
   */
  deviceCopy: boolean;
}

/** The status resource cloudcore needs is not served by the API server: retrying will not help. */
export class StatusResourceMissing extends EdgetwinError {
  /** What the CloudHub answers the edge with: a 4xx, so the edge does not resend it forever. */
  readonly status = 404;

  constructor(resource: string, options?: ErrorOptions) {
    super(
      'STATUS_RESOURCE_MISSING',
      `${resource}.${API_GROUP}/${VERSION} is not served by the API server: install the device CRDs ` +
        "(edgetwin crds | kubectl apply -f -, or KubeEdge's build/crds/devices)",
      options,
    );
  }
}

/**
 * The pure choice, from the resources the API server lists for devices.kubeedge.io/v1beta1 (discovery names
 * such as `devices`, `devices/status`, `devicestatuses`): `DeviceStatus` when that resource exists, otherwise
 * `Device.status` (KubeEdge's CRD sets before its DeviceStatus CRD have none); the /status subresource where it
 * is served, otherwise the object itself.
 */
export function chooseStatusMode(
  preferred: 'DeviceStatus' | 'Device',
  resources: Iterable<string>,
): StatusMode {
  const served = new Set(resources);
  const mode = (kind: StatusMode['kind'], plural: StatusMode['plural']): StatusMode => ({
    kind,
    plural,
    subresource: served.has(`${plural}/status`),
    deviceCopy: kind === 'DeviceStatus' && served.has('devices/status'),
  });
  if (preferred === 'DeviceStatus' && served.has('devicestatuses'))
    return mode('DeviceStatus', 'devicestatuses');
  if (served.has('devices')) return mode('Device', 'devices');
  throw new StatusResourceMissing('devices');
}

/** Asks the API server (discovery) which device resources and subresources it serves, and chooses. */
export async function discoverStatusMode(
  kubeConfig: KubeConfig,
  preferred: 'DeviceStatus' | 'Device',
): Promise<StatusMode> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const list = await api.getAPIResources({ group: API_GROUP, version: VERSION }).catch((error: unknown) => {
    // The whole group/version is not served: no device CRD is installed.
    if ((error as { code?: unknown })?.code === 404)
      throw new StatusResourceMissing('devices', { cause: error });
    throw error;
  });
  return chooseStatusMode(
    preferred,
    (list.resources ?? []).map((r) => r.name),
  );
}

/** One line for the log: where status goes and how. */
export function describeStatusMode(mode: StatusMode): string {
  const how = mode.subresource
    ? `server-side apply of ${mode.plural}/{name}/status (the status subresource)`
    : `merge patch of the ${mode.kind} object itself (${mode.plural} has no status subresource)`;
  return mode.deviceCopy ? `${how}; state and conditions also applied to devices/{name}/status` : how;
}

export const sameStatusMode = (a: StatusMode, b: StatusMode): boolean =>
  a.plural === b.plural && a.subresource === b.subresource && a.deviceCopy === b.deviceCopy;
