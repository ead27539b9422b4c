import type { ModelProperty, ResolvedDevice, ResolvedProperty } from '../../device-models/internal.js';
import { loadSampleDevice, type SerialConfig, type SerialVisitor } from '../../device-models/internal.js';
import { describeConformance } from '../../sdk/testing/index.js';
import { resolvedDevice } from '../../sdk/testing/resolved-device.js';
import { serialMapper } from './index.js';
import { createSerialSimulator, type SerialSimulator } from './simulator.js';

type SerialDevice = ResolvedDevice<SerialConfig, SerialVisitor>;

/**
 * The conformance suite on the sample scale over a real pty pair (a new pair on every start); a multi-drop
 * line of two addressed request/response nodes on one pty; and typed writes on a device with one
 * request/response property per model type.
 */

const device = await loadSampleDevice<SerialConfig, SerialVisitor>('scale-01');
const config: SerialConfig = { serialName: '/dev/ttyUSB9', baudRate: 9600 };

/** A request/response property: `{tag}?` asks, `{tag}={value}` answers and sets, `{tag} OK` acknowledges. */
function exchange(
  name: string,
  tag: string,
  type: ModelProperty['type'],
  value: string,
): ResolvedProperty<SerialVisitor> {
  return {
    name,
    model: { name, type, accessMode: 'ReadWrite' },
    visitor: {
      request: `${tag}?\r\n`,
      pattern: `^${tag}=(?<value>${value})$`,
      writeTemplate: `${tag}={value}\r\n`,
      ackPattern: `^${tag} OK$`,
    },
    collectCycle: 1000,
    reportCycle: 1000,
    reportToCloud: false,
  };
}

const serialDevice = (name: string, properties: ResolvedProperty<SerialVisitor>[]): SerialDevice =>
  resolvedDevice({ name, protocol: 'serial', config, properties });

/** Two nodes on one RS-485 line, each answering only requests with its address (01, 02). */
const nodes = [1, 2].map((n) => serialDevice(`node-${n}`, [exchange('reading', `0${n}`, 'INT', '-?\\d+')]));
/** The line's simulator serves both nodes' properties (under names of their own) on one pty. */
const line = serialDevice(
  'multi-drop-line',
  nodes.map((node) => ({ ...node.properties[0]!, name: `${node.name}.reading` })),
);

const typedDevice = serialDevice('serial-typed', [
  exchange('int', 'I', 'INT', '-?\\d+'),
  exchange('float', 'F', 'FLOAT', '-?[\\d.]+'),
  exchange('double', 'D', 'DOUBLE', '-?[\\d.e+-]+'),
  exchange('boolean', 'B', 'BOOLEAN', 'true|false'),
  exchange('string', 'S', 'STRING', '.*'),
]);

async function serve(served: SerialDevice) {
  const simulator = createSerialSimulator(served, { seed: 1 });
  const reached = await simulator.start();
  return { config: reached as Record<string, unknown>, stop: () => simulator.stop() };
}

let current: SerialSimulator | undefined;

describeConformance({
  name: 'serial over a pty pair (sample scale-01)',
  mapper: serialMapper as never,
  device: device as ResolvedDevice,
  writeValues: { tare: true },
  timeoutMs: 1000,
  async startSimulator() {
    current = createSerialSimulator(device, { seed: 1 });
    const simulator = current;
    const reached = await simulator.start();
    return { config: reached, stop: () => simulator.stop() };
  },
  setSilent(silent) {
    if (current) current.silent = silent;
  },
  async sharedLine() {
    const { config: reached, stop } = await serve(line);
    return { devices: nodes.map((node) => ({ device: node as ResolvedDevice, config: reached })), stop };
  },
  typedWrites: {
    device: typedDevice as ResolvedDevice,
    startSimulator: () => serve(typedDevice),
    // Values travel as text: every value of a type is held exactly, and the driver refuses none.
    writes: [
      { property: 'int', value: -1234 },
      { property: 'float', value: 21.7 },
      { property: 'double', value: Math.PI },
      { property: 'boolean', value: false },
      { property: 'string', value: 'edgetwin conformance' },
    ],
  },
});
