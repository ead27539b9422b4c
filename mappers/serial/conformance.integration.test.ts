import type { ResolvedDevice } from '../../device-models/index.js';
import { loadSampleDevice, type SerialConfig, type SerialVisitor } from '../../device-models/index.js';
import { describeConformance } from '../../sdk/testing/index.js';
import { serialMapper } from './index.js';

const sampleScale = () => loadSampleDevice<SerialConfig, SerialVisitor>('scale-01');

import { createSerialSimulator, type SerialSimulator } from './simulator.js';

/** The conformance suite on the sample scale over a real pty pair (a new pair on every start). */

const device = await sampleScale();
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
    const config = await simulator.start();
    return { config, stop: () => simulator.stop() };
  },
  setSilent(silent) {
    if (current) current.silent = silent;
  },
});
