import {
  loadSampleDevice,
  type ModelProperty,
  type ResolvedDevice,
  type ResolvedProperty,
} from '../../../device-models/internal.js';
import { VALUE_PLACEHOLDER } from '../json-pointer.js';
import type { HttpConfig, HttpVisitor } from '../schema.js';

export type HttpDevice = ResolvedDevice<HttpConfig, HttpVisitor>;

/** The sample plug-01 as shipped in device-models/samples (Shelly-like: one status path, a POST to switch). */
export const samplePlug = (): Promise<HttpDevice> => loadSampleDevice<HttpConfig, HttpVisitor>('plug-01');

function property(model: ModelProperty, visitor: HttpVisitor): ResolvedProperty<HttpVisitor> {
  return { name: model.name, model, visitor, collectCycle: 1000, reportCycle: 1000, reportToCloud: true };
}

/**
 * The test's own PLC-web-server-like device, built on the sample: a base path, values in arrays, every type,
 * and the writes the sample does not make — PUT of the bare value, PATCH of a partial document at the read
 * pointer (no body template), and a body template with the value inside a longer string.
 */
export function plcDevice(plug: HttpDevice): HttpDevice {
  return {
    ...plug,
    id: 'default/plc-01',
    name: 'plc-01',
    config: { baseURL: 'http://127.0.0.1:8082/api/v1', headers: { 'x-api-key': 'k3y' } },
    properties: [
      property(
        { name: 'level', type: 'DOUBLE', accessMode: 'ReadOnly', minimum: '0', maximum: '5' },
        { path: '/tanks', pointer: '/tanks/1/level' },
      ),
      property(
        { name: 'count', type: 'INT', accessMode: 'ReadOnly', minimum: '0', maximum: '1000' },
        { path: '/tanks', pointer: '/tanks/0/count' },
      ),
      property(
        { name: 'gain', type: 'DOUBLE', accessMode: 'ReadWrite' },
        { path: '/tanks', pointer: '/tanks/1/gain', writeMethod: 'PATCH' },
      ),
      property(
        { name: 'speed', type: 'INT', accessMode: 'ReadWrite', minimum: '0', maximum: '3000' },
        { path: '/drives/a', pointer: '/setpoint/rpm', writeMethod: 'PATCH' },
      ),
      property(
        { name: 'setpoint', type: 'FLOAT', accessMode: 'ReadWrite', minimum: '5', maximum: '35' },
        { path: '/setpoint', pointer: '' },
      ),
      property(
        { name: 'label', type: 'STRING', accessMode: 'ReadWrite' },
        {
          path: '/info',
          pointer: '/label',
          writeMethod: 'POST',
          writePath: '/cmd',
          body: { cmd: `label=\${value}` },
        },
      ),
      property(
        { name: 'running', type: 'BOOLEAN', accessMode: 'ReadWrite' },
        { path: '/info', pointer: '/running', writePath: '/info/run', body: [VALUE_PLACEHOLDER] },
      ),
    ],
  };
}
