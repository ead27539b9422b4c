import type { NodeObject } from '../../cloudcore/node-session.js';

/**
 * A one-property meter as CloudHub hands it to an edge: Device `default/<name>` on `node`, of the DeviceModel
 * `meter` (an INT `level`, read-only), at `resourceVersion`.
 */
export function meterObject(node: string, name: string, resourceVersion: string): NodeObject {
  return {
    key: `default/${name}`,
    resourceVersion,
    content: {
      model: {
        apiVersion: 'devices.kubeedge.io/v1beta1',
        kind: 'DeviceModel',
        metadata: { name: 'meter', namespace: 'default' },
        spec: {
          protocol: 'meterProtocol',
          properties: [{ name: 'level', type: 'INT', accessMode: 'ReadOnly' }],
        },
      },
      device: {
        apiVersion: 'devices.kubeedge.io/v1beta1',
        kind: 'Device',
        metadata: { name, namespace: 'default' },
        spec: {
          deviceModelRef: { name: 'meter' },
          nodeName: node,
          protocol: { protocolName: 'meterProtocol' },
          properties: [{ name: 'level' }],
        },
      },
    },
  };
}
