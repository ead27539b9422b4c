import { createInterface } from 'node:readline';
import { loadDevices } from '../device-models/index.js';
import { createModbusLineSimulator, type ModbusLineSimulator } from '../mappers/modbus/line-simulator.js';
import { planModbusLines } from '../mappers/simulators.js';

/**
 * The edge-scale benchmark's devices, served in a process of their own (`node edge-scale-sim.js <dir>`): one
 * simulated Modbus TCP line per endpoint the YAML names, each on a port of its own. The time between successive
 * requests of one unit is the device's read period as the device sees it, measured here so that the edge's
 * process does only the edge's work.
 *
 * Protocol on stdio: prints `endpoint <ip:port> <served port>` per line, then `ready`; reads `reset` (start a
 * window: counters and gaps cleared, answers `reset`) and `stats` (answers one JSON line: requests, registers
 * read, the sorted gaps' p50/p99/max in ms, and how many units were heard).
 */
const dir = process.argv[2];
if (!dir) throw new Error('usage: edge-scale-sim.js <devices dir>');
const { devices } = await loadDevices([dir]);
const plans = planModbusLines(devices);

let requests = 0;
let registers = 0;
let gaps = new Float64Array(1 << 16);
let count = 0;
const last = new Map<number, number>();

const lines: ModbusLineSimulator[] = [];
for (const [i, plan] of plans.entries()) {
  const line = createModbusLineSimulator(plan.devices, {
    transport: { kind: 'tcp', host: '127.0.0.1', port: 0 },
    onRequest: (request) => {
      const now = performance.now();
      requests++;
      registers += request.count;
      const key = i * 256 + request.unitId;
      const before = last.get(key);
      last.set(key, now);
      if (before === undefined) return;
      if (count === gaps.length) {
        const grown = new Float64Array(gaps.length * 2);
        grown.set(gaps);
        gaps = grown;
      }
      gaps[count++] = now - before;
    },
  });
  const reached = (await line.start()) as { port: number };
  const config = plan.devices[0]!.config;
  console.log(`endpoint ${config.ip}:${config.port} ${reached.port}`);
  lines.push(line);
}
console.log('ready');

createInterface({ input: process.stdin }).on('line', (command) => {
  if (command === 'reset') {
    requests = 0;
    registers = 0;
    count = 0;
    last.clear();
    console.log('reset');
  } else if (command === 'stats') {
    const sorted = gaps.slice(0, count).sort();
    const q = (p: number) => sorted[Math.min(count - 1, Math.floor(p * count))] ?? Number.NaN;
    console.log(
      JSON.stringify({
        requests,
        registers,
        units: last.size,
        p50: q(0.5),
        p99: q(0.99),
        max: sorted[count - 1],
      }),
    );
  }
});
process.stdin.on('end', () => {
  Promise.all(lines.map((line) => line.stop())).then(() => process.exit(0));
});
