import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';

/**
 * The devices of a simulated fleet in Kubernetes: one DeviceModel (`fleet-meter`, STRING properties p0…pN-1,
 * p0 ReadWrite) and `devices` Devices on each of `edges` nodes, named so that a node's and a device's name say
 * where they belong (`fleet-007`, `fleet-007-d042`).
 */
export const FLEET_GROUP = { group: 'devices.kubeedge.io', version: 'v1beta1' };
export const FLEET_MODEL = 'fleet-meter';

export const fleetNode = (edge: number) => `fleet-${String(edge).padStart(3, '0')}`;
export const fleetDevice = (edge: number, device: number) =>
  `${fleetNode(edge)}-d${String(device).padStart(3, '0')}`;
export const fleetProperties = (count: number) => [...Array(count).keys()].map((i) => `p${i}`);

export function fleetModel(namespace: string, properties: number) {
  return {
    apiVersion: `${FLEET_GROUP.group}/${FLEET_GROUP.version}`,
    kind: 'DeviceModel',
    metadata: { name: FLEET_MODEL, namespace },
    spec: {
      protocol: 'fleetProtocol',
      properties: fleetProperties(properties).map((name, i) => ({
        name,
        type: 'STRING',
        accessMode: i === 0 ? 'ReadWrite' : 'ReadOnly',
      })),
    },
  };
}

export function fleetDeviceObject(namespace: string, edge: number, device: number, properties: number) {
  return {
    apiVersion: `${FLEET_GROUP.group}/${FLEET_GROUP.version}`,
    kind: 'Device',
    metadata: { name: fleetDevice(edge, device), namespace },
    spec: {
      deviceModelRef: { name: FLEET_MODEL },
      nodeName: fleetNode(edge),
      protocol: { protocolName: 'fleetProtocol' },
      properties: fleetProperties(properties).map((name) => ({ name, reportToCloud: true })),
    },
  };
}

/** Runs `task` over `items`, at most `concurrency` at a time; rejects with the first failure. */
export async function inParallel<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/**
 * Creates the model and every Device (`edges` × `devices`), `concurrency` requests at a time: one by one, 10,000
 * Devices take minutes; the API server takes creates in parallel far faster.
 */
export async function createFleetDevices(
  kubeConfig: KubeConfig,
  fleet: { namespace: string; edges: number; devices: number; properties: number; concurrency?: number },
): Promise<void> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const { namespace } = fleet;
  await api.createNamespacedCustomObject({
    ...FLEET_GROUP,
    namespace,
    plural: 'devicemodels',
    body: fleetModel(namespace, fleet.properties),
  });
  const all: [number, number][] = [];
  for (let e = 0; e < fleet.edges; e++) for (let d = 0; d < fleet.devices; d++) all.push([e, d]);
  await inParallel(all, fleet.concurrency ?? 32, ([e, d]) =>
    api.createNamespacedCustomObject({
      ...FLEET_GROUP,
      namespace,
      plural: 'devices',
      body: fleetDeviceObject(namespace, e, d, fleet.properties),
    }),
  );
}

export interface StatusTwin {
  propertyName: string;
  reported?: { value?: string };
}

/** Every DeviceStatus of the namespace (listed in pages): name → property → reported value. */
export async function reportedValues(
  kubeConfig: KubeConfig,
  namespace: string,
): Promise<Map<string, Map<string, string | undefined>>> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const values = new Map<string, Map<string, string | undefined>>();
  let _continue: string | undefined;
  do {
    const page = (await api.listNamespacedCustomObject({
      ...FLEET_GROUP,
      namespace,
      plural: 'devicestatuses',
      limit: 500,
      ...(_continue ? { _continue } : {}),
    })) as {
      items: { metadata: { name: string }; status?: { twins?: StatusTwin[] } }[];
      metadata?: { continue?: string };
    };
    for (const item of page.items)
      values.set(
        item.metadata.name,
        new Map((item.status?.twins ?? []).map((t) => [t.propertyName, t.reported?.value])),
      );
    _continue = page.metadata?.continue || undefined;
  } while (_continue);
  return values;
}
