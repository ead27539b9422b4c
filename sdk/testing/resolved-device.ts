import { API_VERSION, type ResolvedDevice, type ResolvedProperty } from '../../device-models/index.js';

/**
 * A resolved device built in code, for tests and benchmarks that need no YAML: the Device and DeviceModel it
 * would have come from are filled in from the same properties. Namespace `default`, model `{name}-model`.
 */
export function resolvedDevice<C, V>(options: {
  name: string;
  protocol: string;
  config: C;
  properties: ResolvedProperty<V>[];
  nodeName?: string;
}): ResolvedDevice<C, V> {
  const { name, protocol, config, properties } = options;
  const model = `${name}-model`;
  return {
    id: `default/${name}`,
    namespace: 'default',
    name,
    nodeName: options.nodeName ?? 'edge-1',
    protocol,
    config,
    properties,
    stateReport: { reportToCloud: false, reportCycle: 1000 },
    device: {
      apiVersion: API_VERSION,
      kind: 'Device',
      metadata: { name, namespace: 'default' },
      spec: { deviceModelRef: { name: model }, protocol: { protocolName: protocol } },
    },
    model: {
      apiVersion: API_VERSION,
      kind: 'DeviceModel',
      metadata: { name: model, namespace: 'default' },
      spec: { protocol, properties: properties.map((p) => p.model) },
    },
  };
}
