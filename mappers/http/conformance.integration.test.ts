import type { ResolvedDevice } from '../../device-models/index.js';
import { type ConformanceTarget, describeConformance } from '../../sdk/testing/index.js';
import { httpMapper } from './index.js';
import { createHttpSimulator, type HttpSimulator } from './simulator.js';
import { type HttpDevice, plcDevice, samplePlug } from './testdata/devices.js';

/**
 * The conformance suite through Node's fetch against a real HTTP server on loopback (port 0, kept across
 * restarts): on the sample plug as shipped, and on the test's PLC-like device (a base path, arrays, every
 * type, an API key, each way of writing), which also carries the typed writes.
 */

/** A simulator of `device` that wants the headers its config names (the PLC's API key). */
const simulatorOf = (device: HttpDevice) =>
  createHttpSimulator(device, { seed: 1, requireHeaders: device.config.headers ?? {} });

function conformance(name: string, device: HttpDevice, more: Partial<ConformanceTarget> = {}) {
  let current: HttpSimulator | undefined;
  describeConformance({
    name,
    mapper: httpMapper as never,
    device: device as ResolvedDevice,
    timeoutMs: 300,
    writeValues: { label: 'edgetwin line 2' },
    async startSimulator() {
      current ??= simulatorOf(device);
      const simulator = current;
      return { config: await simulator.start(), stop: () => simulator.stop() };
    },
    setSilent(silent) {
      if (current) current.silent = silent;
    },
    unsupported: {
      sharedLine:
        'http: every request opens its own connection (connection: close); devices behind one host share only its address',
      typedWrites: 'the sample writes only a BOOLEAN: the PLC device below writes every type',
    },
    ...more,
  });
}

const plug = await samplePlug();
const plc = plcDevice(plug);
conformance('http over loopback (sample plug-01)', plug);
conformance('http over loopback (a PLC web server with an API key)', plc, {
  typedWrites: {
    device: plc as ResolvedDevice,
    async startSimulator() {
      const simulator = simulatorOf(plc);
      return { config: await simulator.start(), stop: () => simulator.stop() };
    },
    writes: [
      { property: 'speed', value: 1500 },
      { property: 'setpoint', value: 21.55 },
      { property: 'gain', value: 0.1 + 0.2 },
      { property: 'running', value: false },
      { property: 'label', value: 'ünïcode "quoted" {value}' },
    ],
  },
});
